//! Who made a change, when and from where, as it is stored beside a configuration item.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who made the change an event records: the answer users of a recorder ask for first.
///
/// This is a serialized boundary: it is stored in the log next to a configuration item and
/// shown by the API, so its field names (camelCase) are stable and pinned by a golden fixture
/// (`driftlog-events/tests/fixtures/attribution.golden.json`). Add fields only as optional ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribution {
    /// CloudTrail `eventID`, the value AWS Config puts in `relatedEvents`.
    pub event_id: String,
    /// `eventName` as recorded, e.g. `AuthorizeSecurityGroupIngress`.
    pub event_name: String,
    /// `eventSource`, e.g. `ec2.amazonaws.com`.
    pub event_source: String,
    /// `eventTime` in epoch milliseconds.
    pub event_time_ms: i64,
    /// The principal, stable across sessions: the IAM user's or root's ARN, the role ARN of
    /// an assumed role (not the per-session `assumed-role/…` ARN, so that filters and counts
    /// group one role's sessions together), the service for `AWSService` calls.
    pub principal: String,
    /// The session name of an assumed role (`ci-run-481`), which names the person or job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// `sourceIPAddress`: an IP, or the service that called on the principal's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// `userAgent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Attribution {
    /// One line for `history`, `tail` and `show`:
    /// `by arn:aws:iam::111122223333:role/deploy (session ci-run-481) via
    /// AuthorizeSecurityGroupIngress from 203.0.113.7`.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Attribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "by {}", self.principal)?;
        if let Some(session) = &self.session_name {
            write!(f, " (session {session})")?;
        }
        write!(f, " via {}", self.event_name)?;
        if let Some(ip) = &self.source_ip {
            write!(f, " from {ip}")?;
        }
        Ok(())
    }
}

/// What `history`, `tail` and `show` say of a change no event explains (AWS Config's words).
pub const FOUND_BY_POLL: &str = "found by periodic examination";
