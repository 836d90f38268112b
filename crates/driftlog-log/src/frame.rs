//! The on-disk frame: many configuration items in one sled value.
//!
//! ```text
//! u8  FRAME_VERSION (1)
//! u64 first_seq            (big-endian, also the sled key)
//! u32 count
//! u32 table_len
//! u32 body_raw_len
//! u32 crc32 of everything after this header
//! table: bincode Vec<Entry>   (uncompressed: scans read it without touching bodies)
//! body:  lz4 block of, per item, u32 len + doc, u32 len + volatile, u32 len + diff
//! ```
//!
//! Framing amortizes sled's per-value cost (measured: ~47K values/s) over dozens of items,
//! the checksum catches torn or corrupt values, and the table lets state rebuilds, filters
//! and inventories skip decompression.

use crate::error::{Error, Result};
use bytes::Bytes;
use driftlog_model::{ConfigurationItem, ResourceKey, Seq, Status};
use serde::{Deserialize, Serialize};

/// Version byte of every frame.
pub const FRAME_VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 4 + 4 + 4 + 4;

/// The per-item table row: everything but the document bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// [`ResourceKey::id_hash`].
    pub id: u128,
    /// Status code (see [`status_code`]).
    pub status: u8,
    /// Per-resource version.
    pub version: u64,
    /// Previous item of the same resource, 0 if none: the history chain.
    pub prev_seq: Seq,
    /// Capture time, epoch ms.
    pub capture_time_ms: i64,
    /// Hash of the canonical document.
    pub doc_hash: u128,
    /// Hash of the volatile values.
    pub volatile_hash: u64,
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Resource type.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Hashes of the targets of this item's relationships: the reverse index rebuilds from
    /// tables alone.
    pub edge_targets: Vec<u128>,
    /// Offset of this item's body in the decompressed body.
    pub body_offset: u32,
    /// Length of this item's body.
    pub body_len: u32,
}

impl Entry {
    /// The resource key.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(
            &self.account,
            &self.region,
            &self.resource_type,
            &self.resource_id,
        )
    }

    /// The status.
    pub fn status(&self) -> Status {
        status_from(self.status)
    }

    /// True when this item is a deletion.
    pub fn deleted(&self) -> bool {
        self.status().is_deletion()
    }
}

/// Stable on-disk code of a status.
pub fn status_code(s: Status) -> u8 {
    match s {
        Status::Ok => 0,
        Status::ResourceDiscovered => 1,
        Status::ResourceNotRecorded => 2,
        Status::ResourceDeleted => 3,
        Status::ResourceDeletedNotRecorded => 4,
    }
}

fn status_from(c: u8) -> Status {
    match c {
        1 => Status::ResourceDiscovered,
        2 => Status::ResourceNotRecorded,
        3 => Status::ResourceDeleted,
        4 => Status::ResourceDeletedNotRecorded,
        _ => Status::Ok,
    }
}

/// Builds one frame.
#[derive(Default)]
pub struct FrameBuilder {
    pub(crate) first_seq: Seq,
    pub(crate) entries: Vec<Entry>,
    body: Vec<u8>,
}

impl FrameBuilder {
    /// Starts a frame at `first_seq`.
    pub fn new(first_seq: Seq) -> Self {
        Self {
            first_seq,
            entries: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds one item; its seq is `first_seq + entries.len()`.
    pub fn push(&mut self, mut entry: Entry, doc: &[u8], volatile: &[u8], diff: &[u8]) {
        let start = self.body.len();
        for part in [doc, volatile, diff] {
            self.body
                .extend_from_slice(&(part.len() as u32).to_le_bytes());
            self.body.extend_from_slice(part);
        }
        entry.body_offset = start as u32;
        entry.body_len = (self.body.len() - start) as u32;
        self.entries.push(entry);
    }

    /// Uncompressed bytes so far, to decide when to cut.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encodes the frame.
    pub fn finish(self) -> Vec<u8> {
        let table = bincode::serialize(&self.entries).unwrap_or_default();
        let body = lz4_flex::block::compress(&self.body);
        let mut out = Vec::with_capacity(HEADER + table.len() + body.len());
        out.push(FRAME_VERSION);
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(table.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&table);
        crc.update(&body);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
        out.extend_from_slice(&table);
        out.extend_from_slice(&body);
        out
    }
}

/// A decoded frame: its table, and its body decompressed on demand.
pub struct Frame {
    /// First sequence number.
    pub first_seq: Seq,
    /// One entry per item.
    pub entries: Vec<Entry>,
    raw: sled::IVec,
    body_at: usize,
    body_raw_len: usize,
    /// The body, decompressed at most once per decoded frame (frames are immutable).
    body: std::sync::OnceLock<Bytes>,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(x)
}

impl Frame {
    /// Decodes and checks a frame read from the `log` tree.
    ///
    /// # Errors
    /// [`Error::Corrupt`] on a bad version, length or checksum.
    pub fn decode(raw: sled::IVec) -> Result<Self> {
        let corrupt = |first_seq, reason: &str| Error::Corrupt {
            first_seq,
            reason: reason.to_string(),
        };
        if raw.len() < HEADER {
            return Err(corrupt(0, "shorter than a frame header"));
        }
        let mut s = [0u8; 8];
        s.copy_from_slice(&raw[1..9]);
        let first_seq = u64::from_be_bytes(s);
        if raw[0] != FRAME_VERSION {
            return Err(corrupt(
                first_seq,
                &format!("unknown frame version {}", raw[0]),
            ));
        }
        let count = be_u32(&raw, 9) as usize;
        let table_len = be_u32(&raw, 13) as usize;
        let body_raw_len = be_u32(&raw, 17) as usize;
        let crc = be_u32(&raw, 21);
        if HEADER + table_len > raw.len() {
            return Err(corrupt(first_seq, "table runs past the end"));
        }
        if crc32fast::hash(&raw[HEADER..]) != crc {
            return Err(corrupt(first_seq, "checksum mismatch"));
        }
        let entries: Vec<Entry> = bincode::deserialize(&raw[HEADER..HEADER + table_len])
            .map_err(|e| corrupt(first_seq, &format!("table: {e}")))?;
        if entries.len() != count {
            return Err(corrupt(first_seq, "item count differs from table"));
        }
        Ok(Self {
            first_seq,
            entries,
            body_at: HEADER + table_len,
            body_raw_len,
            raw,
            body: std::sync::OnceLock::new(),
        })
    }

    /// Last sequence number in the frame.
    pub fn last_seq(&self) -> Seq {
        self.first_seq + self.entries.len() as u64 - 1
    }

    /// Decompresses the body.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when lz4 refuses it.
    pub fn body(&self) -> Result<Bytes> {
        if let Some(b) = self.body.get() {
            return Ok(b.clone());
        }
        let b = lz4_flex::block::decompress(&self.raw[self.body_at..], self.body_raw_len)
            .map(Bytes::from)
            .map_err(|e| Error::Corrupt {
                first_seq: self.first_seq,
                reason: format!("body: {e}"),
            })?;
        Ok(self.body.get_or_init(|| b).clone())
    }

    /// Materializes item `i` from an already decompressed `body`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the body does not hold the entry's slices.
    pub fn item(&self, i: usize, body: &Bytes) -> Result<ConfigurationItem> {
        let e = &self.entries[i];
        let corrupt = || Error::Corrupt {
            first_seq: self.first_seq,
            reason: format!("body of item {i} out of range"),
        };
        let mut at = e.body_offset as usize;
        let end = at + e.body_len as usize;
        if end > body.len() {
            return Err(corrupt());
        }
        let mut parts = [Bytes::new(), Bytes::new(), Bytes::new()];
        for p in parts.iter_mut() {
            if at + 4 > end {
                return Err(corrupt());
            }
            let mut l = [0u8; 4];
            l.copy_from_slice(&body[at..at + 4]);
            let len = u32::from_le_bytes(l) as usize;
            at += 4;
            if at + len > end {
                return Err(corrupt());
            }
            *p = body.slice(at..at + len);
            at += len;
        }
        let [doc, volatile, diff] = parts;
        Ok(ConfigurationItem {
            seq: self.first_seq + i as u64,
            version: e.version,
            key: e.key(),
            status: e.status(),
            capture_time_ms: e.capture_time_ms,
            doc,
            volatile,
            diff,
        })
    }
}
