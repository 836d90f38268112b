//! Configuration history files, written as items stream past: one file per (account,
//! region, resource type) of a delivery window, split when large, each knowing the log
//! sequence range it covers. The same items in the same order give the same files, keys and
//! bytes, so a delivery interrupted by a crash is redone over the same range and overwrites
//! what it wrote — no item missing, none in two files.

use crate::keys::{history_key, KeyParts};
use crate::{ConfigurationItem, Result};
use std::collections::BTreeMap;

/// AWS Config delivers history every 6 hours.
pub const HISTORY_PERIOD_MS: i64 = 6 * 3_600_000;

/// The delivery period `[start, end)` holding `ms`, periods aligned on the epoch.
pub fn period_of(ms: i64, period_ms: i64) -> (i64, i64) {
    let period_ms = period_ms.max(1);
    let start = ms.div_euclid(period_ms) * period_ms;
    (start, start + period_ms)
}

/// A gzip JSON delivery file written item by item — `{"fileVersion":"1.0",
/// ["configSnapshotId":…,] "configurationItems":[…]}` — so a file of a million items never
/// exists uncompressed in memory.
pub struct FileWriter {
    enc: flate2::write::GzEncoder<Vec<u8>>,
    count: usize,
    first_seq: u64,
    last_seq: u64,
}

impl FileWriter {
    /// Starts a history file (`None`) or a snapshot file (its id).
    pub fn new(snapshot_id: Option<&str>) -> Self {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let head = match snapshot_id {
            Some(id) => format!(
                "{{\"fileVersion\":\"1.0\",\"configSnapshotId\":{},\"configurationItems\":[",
                serde_json::Value::String(id.to_string())
            ),
            None => "{\"fileVersion\":\"1.0\",\"configurationItems\":[".to_string(),
        };
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(head.as_bytes());
        Self {
            enc,
            count: 0,
            first_seq: 0,
            last_seq: 0,
        }
    }

    /// Appends one item in notification naming.
    ///
    /// # Errors
    /// [`crate::Error::Item`] when the stored item is not JSON.
    pub fn push(&mut self, ci: &ConfigurationItem) -> Result<()> {
        use std::io::Write;
        let v = ci
            .to_notification_json()
            .map_err(|e| crate::messages::item_error(ci, e))?;
        if self.count > 0 {
            self.enc.write_all(b",")?;
        } else {
            self.first_seq = ci.seq;
        }
        serde_json::to_writer(&mut self.enc, &v).map_err(std::io::Error::from)?;
        self.count += 1;
        self.last_seq = ci.seq;
        Ok(())
    }

    /// Items written so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No item yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Closes the JSON and the gzip stream: the object's bytes and its sequence range.
    ///
    /// # Errors
    /// Compression failed.
    pub fn finish(mut self) -> Result<(Vec<u8>, u64, u64)> {
        use std::io::Write;
        self.enc.write_all(b"]}")?;
        Ok((self.enc.finish()?, self.first_seq, self.last_seq))
    }
}

/// One finished configuration history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryFile {
    /// Account of its items.
    pub account: String,
    /// Region of its items (`global` for IAM).
    pub region: String,
    /// Resource type of its items.
    pub resource_type: String,
    /// Window start, epoch ms.
    pub start_ms: i64,
    /// Window end (exclusive), epoch ms.
    pub end_ms: i64,
    /// 1, 2, … for the files of one type and window.
    pub n: u32,
    /// Lowest log sequence in the file.
    pub first_seq: u64,
    /// Highest log sequence in the file.
    pub last_seq: u64,
    /// Items in the file.
    pub count: usize,
    /// The gzip JSON object.
    pub body: Vec<u8>,
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

type Group = (String, String, String);

/// Sorts the items of one delivery window `[start, end)` (given in log order) into history
/// files: one per (account, region, type), a new one after `max_items`.
pub struct HistoryBatcher {
    start_ms: i64,
    end_ms: i64,
    max_items: usize,
    open: BTreeMap<Group, (u32, FileWriter)>,
}

impl HistoryBatcher {
    /// A batcher for the window `[start_ms, end_ms)`.
    pub fn new(start_ms: i64, end_ms: i64, max_items: usize) -> Self {
        Self {
            start_ms,
            end_ms,
            max_items: max_items.max(1),
            open: BTreeMap::new(),
        }
    }

    /// Adds an item; returns the file it completed, if any.
    ///
    /// # Errors
    /// [`crate::Error::Item`] when the stored item is not JSON.
    pub fn push(&mut self, ci: &ConfigurationItem) -> Result<Option<HistoryFile>> {
        let g = (
            ci.key.account.clone(),
            ci.key.region.clone(),
            ci.key.resource_type.clone(),
        );
        let (n, w) = self
            .open
            .entry(g.clone())
            .or_insert_with(|| (1, FileWriter::new(None)));
        w.push(ci)?;
        if w.len() < self.max_items {
            return Ok(None);
        }
        let n_done = *n;
        let full = std::mem::replace(w, FileWriter::new(None));
        *n += 1;
        self.file(g, n_done, full).map(Some)
    }

    fn file(&self, g: Group, n: u32, w: FileWriter) -> Result<HistoryFile> {
        let count = w.len();
        let (body, first_seq, last_seq) = w.finish()?;
        Ok(HistoryFile {
            account: g.0,
            region: g.1,
            resource_type: g.2,
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            n,
            first_seq,
            last_seq,
            count,
            body,
        })
    }

    /// Closes the window: the remaining non-empty files, in (account, region, type) order.
    ///
    /// # Errors
    /// Compression failed.
    pub fn finish(mut self) -> Result<Vec<HistoryFile>> {
        let open = std::mem::take(&mut self.open);
        let mut out = Vec::new();
        for (g, (n, w)) in open {
            if !w.is_empty() {
                out.push(self.file(g, n, w)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftlog_model::{ResourceKey, Status};
    use std::io::Read;

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
            attribution: Vec::new(),
        }
    }

    const T: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z, a period boundary

    fn gunzip(b: &[u8]) -> serde_json::Value {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b)
            .read_to_string(&mut s)
            .unwrap();
        serde_json::from_str(&s).unwrap()
    }

    #[test]
    fn periods_align_on_six_hours() {
        assert_eq!(period_of(T, HISTORY_PERIOD_MS), (T, T + HISTORY_PERIOD_MS));
        assert_eq!(
            period_of(T - 1, HISTORY_PERIOD_MS),
            (T - HISTORY_PERIOD_MS, T)
        );
    }

    fn run(items: &[ConfigurationItem]) -> Vec<HistoryFile> {
        let mut b = HistoryBatcher::new(T, T + HISTORY_PERIOD_MS, 2);
        let mut files = Vec::new();
        for c in items {
            files.extend(b.push(c).unwrap());
        }
        files.extend(b.finish().unwrap());
        files
    }

    #[test]
    fn one_file_per_type_and_region_split_by_size() {
        let sg = "AWS::EC2::SecurityGroup";
        let items = vec![
            ci(2, sg, "eu-west-1", T + 10),
            ci(3, "AWS::IAM::Role", "global", T + 20),
            ci(4, sg, "eu-west-1", T + 30),
            ci(5, sg, "eu-west-1", T + 40),
            ci(6, sg, "us-east-1", T + 50),
        ];
        let files = run(&items);
        let summary: Vec<(&str, &str, u32, u64, u64, usize)> = files
            .iter()
            .map(|f| {
                (
                    f.region.as_str(),
                    f.resource_type.as_str(),
                    f.n,
                    f.first_seq,
                    f.last_seq,
                    f.count,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("eu-west-1", sg, 1, 2, 4, 2),
                ("eu-west-1", sg, 2, 5, 5, 1),
                ("global", "AWS::IAM::Role", 1, 3, 3, 1),
                ("us-east-1", sg, 1, 6, 6, 1),
            ]
        );
        // Every item in exactly one file, in log order; the same input gives the same bytes.
        let mut seqs = Vec::new();
        for f in &files {
            let v = gunzip(&f.body);
            assert_eq!(v["fileVersion"], "1.0");
            assert!(v.get("configSnapshotId").is_none());
            for c in v["configurationItems"].as_array().unwrap() {
                seqs.push(c["resourceId"].as_str().unwrap().to_string());
            }
        }
        seqs.sort();
        assert_eq!(seqs, vec!["id-2", "id-3", "id-4", "id-5", "id-6"]);
        assert_eq!(run(&items), files);
        assert_eq!(
            files[0].key(None),
            "AWSLogs/111122223333/Config/eu-west-1/2024/5/1/ConfigHistory/111122223333_Config_eu-west-1_ConfigHistory_AWS::EC2::SecurityGroup_20240501T120000Z_20240501T180000Z_1.json.gz"
        );
    }

    #[test]
    fn snapshot_file_names_its_id_and_empty_files_are_valid() {
        let mut w = FileWriter::new(Some("3f1c2d4e"));
        assert!(w.is_empty());
        w.push(&ci(9, "AWS::EC2::VPC", "eu-west-1", T)).unwrap();
        let (body, first, last) = w.finish().unwrap();
        assert_eq!((first, last), (9, 9));
        let v = gunzip(&body);
        assert_eq!(v["configSnapshotId"], "3f1c2d4e");
        assert_eq!(v["configurationItems"][0]["resourceType"], "AWS::EC2::VPC");
        let (empty, _, _) = FileWriter::new(Some("x")).finish().unwrap();
        assert_eq!(gunzip(&empty)["configurationItems"], serde_json::json!([]));
    }
}
