//! Planning configuration history files: the items of one delivery period, one file per
//! (account, region, resource type), split when large, each knowing the log sequence range
//! it covers so that a delivery interrupted by a crash is redone with the same keys and
//! contents — no item missing, none in two files.

use crate::keys::{history_key, KeyParts};
use crate::ConfigurationItem;
use std::collections::BTreeMap;

/// AWS Config delivers history every 6 hours.
pub const HISTORY_PERIOD_MS: i64 = 6 * 3_600_000;

/// The delivery period `[start, end)` holding `ms`, periods aligned on the epoch.
pub fn period_of(ms: i64, period_ms: i64) -> (i64, i64) {
    let start = ms.div_euclid(period_ms) * period_ms;
    (start, start + period_ms)
}

/// One history file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryFile {
    /// Account of its items.
    pub account: String,
    /// Region of its items (`global` for IAM).
    pub region: String,
    /// Resource type of its items.
    pub resource_type: String,
    /// Period start, epoch ms.
    pub start_ms: i64,
    /// Period end (exclusive), epoch ms.
    pub end_ms: i64,
    /// 1, 2, … for the files of one type and period.
    pub n: u32,
    /// Lowest log sequence in the file.
    pub first_seq: u64,
    /// Highest log sequence in the file.
    pub last_seq: u64,
    /// The items, in log order.
    pub items: Vec<ConfigurationItem>,
}

impl HistoryFile {
    /// Its object key under the delivery channel's prefix.
    pub fn key(&self, prefix: Option<&str>) -> String {
        history_key(
            &KeyParts {
                prefix,
                account: &self.account,
                region: &self.region,
            },
            &self.resource_type,
            self.start_ms,
            self.end_ms,
            self.n,
        )
    }
}

/// Groups items (in log order) into history files by period of their capture time and by
/// (account, region, type), at most `max_items` per file. Deterministic: the same items
/// give the same files, keys and contents, so a redone delivery overwrites rather than
/// duplicates.
pub fn plan_history(
    items: impl IntoIterator<Item = ConfigurationItem>,
    period_ms: i64,
    max_items: usize,
) -> Vec<HistoryFile> {
    let max_items = max_items.max(1);
    let mut groups: BTreeMap<(i64, String, String, String), Vec<ConfigurationItem>> =
        BTreeMap::new();
    for ci in items {
        let (start, _) = period_of(ci.capture_time_ms, period_ms);
        groups
            .entry((
                start,
                ci.key.account.clone(),
                ci.key.region.clone(),
                ci.key.resource_type.clone(),
            ))
            .or_default()
            .push(ci);
    }
    let mut files = Vec::new();
    for ((start, account, region, resource_type), mut list) in groups {
        list.sort_by_key(|c| c.seq);
        for (i, chunk) in list.chunks(max_items).enumerate() {
            files.push(HistoryFile {
                account: account.clone(),
                region: region.clone(),
                resource_type: resource_type.clone(),
                start_ms: start,
                end_ms: start + period_ms,
                n: u32::try_from(i + 1).unwrap_or(u32::MAX),
                first_seq: chunk.first().map_or(0, |c| c.seq),
                last_seq: chunk.last().map_or(0, |c| c.seq),
                items: chunk.to_vec(),
            });
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftlog_model::{ResourceKey, Status};

    fn ci(seq: u64, ty: &str, region: &str, at: i64) -> ConfigurationItem {
        ConfigurationItem {
            seq,
            version: 1,
            key: ResourceKey::new("111122223333", region, ty, format!("id-{seq}")),
            status: Status::ResourceDiscovered,
            capture_time_ms: at,
            doc: bytes::Bytes::from_static(b"{}"),
            volatile: bytes::Bytes::from_static(b"{}"),
            diff: bytes::Bytes::from_static(b"[]"),
        }
    }

    const T: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z, a period boundary

    #[test]
    fn periods_align_on_six_hours() {
        assert_eq!(period_of(T, HISTORY_PERIOD_MS), (T, T + HISTORY_PERIOD_MS));
        assert_eq!(
            period_of(T - 1, HISTORY_PERIOD_MS),
            (T - HISTORY_PERIOD_MS, T)
        );
    }

    #[test]
    fn one_file_per_type_region_period_split_by_size() {
        let sg = "AWS::EC2::SecurityGroup";
        let items = vec![
            ci(1, sg, "eu-west-1", T - 10),
            ci(2, sg, "eu-west-1", T + 10),
            ci(3, "AWS::IAM::Role", "global", T + 20),
            ci(4, sg, "eu-west-1", T + 30),
            ci(5, sg, "eu-west-1", T + 40),
            ci(6, sg, "us-east-1", T + 50),
        ];
        let files = plan_history(items.clone(), HISTORY_PERIOD_MS, 2);
        let summary: Vec<(i64, &str, &str, u32, u64, u64)> = files
            .iter()
            .map(|f| {
                (
                    f.start_ms,
                    f.region.as_str(),
                    f.resource_type.as_str(),
                    f.n,
                    f.first_seq,
                    f.last_seq,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (T - HISTORY_PERIOD_MS, "eu-west-1", sg, 1, 1, 1),
                (T, "eu-west-1", sg, 1, 2, 4),
                (T, "eu-west-1", sg, 2, 5, 5),
                (T, "global", "AWS::IAM::Role", 1, 3, 3),
                (T, "us-east-1", sg, 1, 6, 6),
            ]
        );
        // Every item in exactly one file; the same input plans the same files.
        let mut seqs: Vec<u64> = files
            .iter()
            .flat_map(|f| f.items.iter().map(|c| c.seq))
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(plan_history(items, HISTORY_PERIOD_MS, 2), files);
        assert_eq!(
            files[1].key(None),
            "AWSLogs/111122223333/Config/eu-west-1/2024/5/1/ConfigHistory/111122223333_Config_eu-west-1_ConfigHistory_AWS::EC2::SecurityGroup_20240501T120000Z_20240501T180000Z_1.json.gz"
        );
    }
}
