//! A recorder's heartbeat: what it publishes every few seconds so that an aggregator can say
//! which of its sources are current, outdated or failing, as AWS Config's
//! `DescribeConfigurationAggregatorSourcesStatus` does per account and region.

use serde::{Deserialize, Serialize};

/// One heartbeat (JSON, camelCase), on `driftlog.heartbeat.<recorder>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// The recorder's stable id.
    pub recorder: String,
    /// Its store's id.
    pub log: String,
    /// When it was sent, epoch ms.
    pub time_ms: i64,
    /// How often heartbeats come, ms: an aggregator calls a source outdated after missing
    /// a few.
    pub interval_ms: u64,
    /// The recorder's last committed sequence.
    pub watermark: u64,
    /// The last sequence its item sink had published (and JetStream acknowledged).
    pub published: u64,
    /// Whether the recorder is recording (AWS's `recording`).
    pub recording: bool,
    /// Every scope it polls, with its last outcome.
    pub scopes: Vec<ScopeBeat>,
}

/// One scope in a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeBeat {
    /// Account.
    pub account: String,
    /// Region (`global` for IAM).
    pub region: String,
    /// Resource type.
    pub resource_type: String,
    /// End of the last complete poll, epoch ms.
    pub last_success_ms: Option<i64>,
    /// Start of the last poll, epoch ms.
    pub last_attempt_ms: Option<i64>,
    /// The last error's code, until a poll succeeds.
    pub last_error_code: Option<String>,
    /// The last error's message.
    pub last_error_message: Option<String>,
}

impl Heartbeat {
    /// The JSON body.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain strings and numbers: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a body.
    ///
    /// # Errors
    /// The body is not a heartbeat: serde's message, naming the member.
    pub fn from_bytes(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a heartbeat: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_camel_case() {
        let h = Heartbeat {
            recorder: "eu".into(),
            log: "0f".into(),
            time_ms: 1,
            interval_ms: 10_000,
            watermark: 7,
            published: 6,
            recording: true,
            scopes: vec![ScopeBeat {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                resource_type: "AWS::EC2::VPC".into(),
                last_error_code: Some("AccessDenied".into()),
                ..ScopeBeat::default()
            }],
        };
        let b = h.to_bytes();
        assert!(String::from_utf8_lossy(&b).contains("\"lastErrorCode\":\"AccessDenied\""));
        assert_eq!(Heartbeat::from_bytes(&b).unwrap(), h);
        assert!(Heartbeat::from_bytes(b"{}").is_err());
    }
}
