//! S3 object keys (spec §4.3). `P` is `<s3KeyPrefix>/` or nothing; dates are UTC, the day
//! path is `yyyy/m/d` without zero padding, stamps are `YYYYMMDDTHHMMSSZ`.

use chrono::{DateTime, Datelike, Utc};

/// Where a recorder delivers: the channel's key prefix, and the recorder's account and
/// region (several recorders can share a bucket; their keys stay apart by these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// `s3KeyPrefix` of the delivery channel, if any (without trailing slash).
    pub prefix: Option<&'a str>,
    /// 12-digit account id.
    pub account: &'a str,
    /// Region of the recorder.
    pub region: &'a str,
}

impl KeyParts<'_> {
    fn p(&self) -> String {
        match self
            .prefix
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
        {
            Some(p) => format!("{p}/"),
            None => String::new(),
        }
    }

    fn base(&self, at_ms: i64) -> String {
        format!(
            "{}AWSLogs/{}/Config/{}/{}",
            self.p(),
            self.account,
            self.region,
            day_path(at_ms)
        )
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `yyyy/m/d` of an instant, UTC, without zero padding (`2024/5/1`).
pub fn day_path(ms: i64) -> String {
    let t = utc(ms);
    format!("{}/{}/{}", t.year(), t.month(), t.day())
}

/// `YYYYMMDDTHHMMSSZ` of an instant, UTC.
pub fn stamp(ms: i64) -> String {
    utc(ms).format("%Y%m%dT%H%M%SZ").to_string()
}

/// The zero-byte probe written when a delivery channel is put.
pub fn writability_check_key(prefix: Option<&str>, account: &str) -> String {
    let parts = KeyParts {
        prefix,
        account,
        region: "",
    };
    format!(
        "{}AWSLogs/{account}/Config/ConfigWritabilityCheckFile",
        parts.p()
    )
}

/// A configuration history file: one resource type, one delivery period `[start, end)`,
/// `n` counting files of the same type and period. Filed under the period's end day.
pub fn history_key(
    k: &KeyParts<'_>,
    resource_type: &str,
    start_ms: i64,
    end_ms: i64,
    n: u32,
) -> String {
    format!(
        "{}/ConfigHistory/{}_Config_{}_ConfigHistory_{resource_type}_{}_{}_{n}.json.gz",
        k.base(end_ms),
        k.account,
        k.region,
        stamp(start_ms),
        stamp(end_ms)
    )
}

/// A configuration snapshot taken at `at_ms`.
pub fn snapshot_key(k: &KeyParts<'_>, at_ms: i64, snapshot_id: &str) -> String {
    format!(
        "{}/ConfigSnapshot/{}_Config_{}_ConfigSnapshot_{}_{snapshot_id}.json.gz",
        k.base(at_ms),
        k.account,
        k.region,
        stamp(at_ms)
    )
}

/// The full change message of an item too large for SNS.
pub fn oversized_key(
    k: &KeyParts<'_>,
    resource_type: &str,
    resource_id: &str,
    at_ms: i64,
    state_id: i64,
) -> String {
    format!(
        "{}/OversizedChangeNotification/{resource_type}/{resource_id}/{}_Config_{}_ChangeNotification_{resource_type}_{resource_id}_{}_{state_id}.json.gz",
        k.base(at_ms),
        k.account,
        k.region,
        stamp(at_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    fn parts(prefix: Option<&str>) -> KeyParts<'_> {
        KeyParts {
            prefix,
            account: "111122223333",
            region: "eu-west-1",
        }
    }

    #[test]
    fn history_key_is_the_specs_example() {
        assert_eq!(
            history_key(&parts(None), "AWS::EC2::SecurityGroup", T - 6 * 3_600_000, T, 1),
            "AWSLogs/111122223333/Config/eu-west-1/2024/5/1/ConfigHistory/111122223333_Config_eu-west-1_ConfigHistory_AWS::EC2::SecurityGroup_20240501T060000Z_20240501T120000Z_1.json.gz"
        );
    }

    #[test]
    fn prefix_day_and_stamps() {
        assert_eq!(
            snapshot_key(&parts(Some("audit/")), T + 1_234, "3f1c"),
            "audit/AWSLogs/111122223333/Config/eu-west-1/2024/5/1/ConfigSnapshot/111122223333_Config_eu-west-1_ConfigSnapshot_20240501T120001Z_3f1c.json.gz"
        );
        assert_eq!(
            writability_check_key(Some("audit"), "111122223333"),
            "audit/AWSLogs/111122223333/Config/ConfigWritabilityCheckFile"
        );
        assert_eq!(
            writability_check_key(None, "111122223333"),
            "AWSLogs/111122223333/Config/ConfigWritabilityCheckFile"
        );
        assert_eq!(day_path(1_733_011_200_000), "2024/12/1"); // 2024-12-01
        assert_eq!(
            oversized_key(&parts(None), "AWS::EC2::Instance", "i-1", T, T),
            "AWSLogs/111122223333/Config/eu-west-1/2024/5/1/OversizedChangeNotification/AWS::EC2::Instance/i-1/111122223333_Config_eu-west-1_ChangeNotification_AWS::EC2::Instance_i-1_20240501T120000Z_1714564800000.json.gz"
        );
    }
}
