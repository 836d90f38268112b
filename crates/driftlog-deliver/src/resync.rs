//! Resync: how an aggregator that lost part of a recorder's items (the stream's retention
//! passed them, or the recorder's store was replaced) gets its whole inventory again.
//!
//! The aggregator asks on core NATS (`driftlog.resync.<recorder>`, a [`ResyncRequest`]); the
//! recorder answers in the stream itself, so the snapshot is ordered with its items: a
//! begin marker, every live resource's current item (the usual item message, marked with
//! [`SNAPSHOT_HEADER`] and its own de-duplication id), and an end marker naming how many
//! items it sent and which account–region pairs it covers. Markers travel on
//! `driftlog.ci._snapshot.<recorder>` ([`snapshot_subject`]), inside the stream's subjects
//! but never an item subject (an account is never `_snapshot`).

use serde::{Deserialize, Serialize};

/// The header that marks an item message as part of a snapshot (its id), not the item
/// stream: aggregators that did not ask for the snapshot ignore it.
pub const SNAPSHOT_HEADER: &str = "Driftlog-Snapshot";

/// The subject of a recorder's snapshot markers: `driftlog.ci._snapshot.<id>`.
pub fn snapshot_subject(recorder: &str) -> String {
    format!(
        "driftlog.ci._snapshot.{}",
        crate::routing::subject_token(recorder)
    )
}

/// The recorder id of a snapshot marker's subject, if it is one.
pub fn parse_snapshot_subject(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("driftlog.ci._snapshot.")
        .filter(|id| !id.is_empty() && !id.contains('.'))
}

/// The de-duplication id of a snapshot's item (a snapshot carries items already published
/// under their plain id, which JetStream would drop inside its duplicate window).
pub fn snapshot_message_id(recorder: &str, snapshot: &str, seq: u64) -> String {
    format!("{recorder}:snapshot:{snapshot}:{seq}")
}

/// The de-duplication id of a snapshot marker.
pub fn snapshot_marker_id(recorder: &str, snapshot: &str, phase: SnapshotPhase) -> String {
    let p = match phase {
        SnapshotPhase::Begin => "begin",
        SnapshotPhase::End => "end",
    };
    format!("{recorder}:snapshot:{snapshot}:{p}")
}

/// An aggregator's request for a snapshot (JSON on `driftlog.resync.<recorder>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResyncRequest {
    /// Who asks (the aggregator's consumer name), for the recorder's log.
    pub aggregator: String,
    /// Why (the gap found), for the recorder's log.
    pub reason: String,
}

/// Which end of a snapshot a marker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SnapshotPhase {
    /// Items follow.
    Begin,
    /// All items were sent.
    End,
}

/// A snapshot marker (JSON body on [`snapshot_subject`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotMarker {
    /// Begin or end.
    pub phase: SnapshotPhase,
    /// The snapshot's id (every item carries it in [`SNAPSHOT_HEADER`]).
    pub snapshot: String,
    /// The recorder.
    pub recorder: String,
    /// Its store.
    pub log: String,
    /// The sequence the snapshot is the inventory at: every item of the store up to it is
    /// covered.
    pub seq: u64,
    /// At the end: how many items were sent.
    #[serde(default)]
    pub items: u64,
    /// At the end: the `(account, region)` pairs the recorder records — an aggregated
    /// resource of these pairs that the snapshot does not hold no longer exists.
    #[serde(default)]
    pub scopes: Vec<(String, String)>,
}

impl SnapshotMarker {
    /// The JSON body.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings and numbers only: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a body.
    ///
    /// # Errors
    /// Not a marker: serde's message, naming the member.
    pub fn from_bytes(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a snapshot marker: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_subjects() {
        assert_eq!(snapshot_subject("rec.1"), "driftlog.ci._snapshot.rec_1");
        assert_eq!(
            parse_snapshot_subject("driftlog.ci._snapshot.rec-1"),
            Some("rec-1")
        );
        assert_eq!(
            parse_snapshot_subject("driftlog.ci.111122223333.eu-west-1.AWS::EC2::VPC"),
            None
        );
        assert!(crate::parse_item_subject(&snapshot_subject("rec-1")).is_none());
        let m = SnapshotMarker {
            phase: SnapshotPhase::End,
            snapshot: "s1".into(),
            recorder: "rec-1".into(),
            log: "L".into(),
            seq: 9,
            items: 3,
            scopes: vec![("111122223333".into(), "eu-west-1".into())],
        };
        assert_eq!(SnapshotMarker::from_bytes(&m.to_bytes()), Ok(m));
        assert!(String::from_utf8(
            SnapshotMarker {
                phase: SnapshotPhase::Begin,
                snapshot: "s".into(),
                recorder: "r".into(),
                log: "L".into(),
                seq: 1,
                items: 0,
                scopes: vec![],
            }
            .to_bytes()
        )
        .unwrap()
        .contains(r#""phase":"begin""#));
        assert_eq!(snapshot_message_id("r", "s", 4), "r:snapshot:s:4");
        assert_eq!(
            snapshot_marker_id("r", "s", SnapshotPhase::End),
            "r:snapshot:s:end"
        );
    }
}
