//! The on-disk frame: many configuration items in one sled value.
//!
//! ```text
//! u8  FRAME_VERSION (1)
//! u64 first_seq            (big-endian, also the sled key)
//! u32 count
//! u32 table_len
//! u32 body_raw_len
//! u32 crc32 of everything after this header
//! table: u32 count, count × u32 entry offsets, then each Entry in bincode (uncompressed:
//!        scans read it without touching bodies; a point read decodes one entry)
//! u32 chunk count, then per chunk: u32 raw start, u32 raw len, u32 compressed len
//! chunks: lz4 blocks; their raw concatenation holds, per item,
//!         u32 len + doc, u32 len + volatile, u32 len + diff (an item never spans chunks),
//!         then, only for an item a CloudTrail event explained, u32 len + attribution
//!         (canonical JSON array of `driftlog_model::Attribution`)
//! ```
//!
//! The attribution part is optional so that frames written before events existed, and
//! frames of items no event explained (most of them), are byte-for-byte what they were:
//! the entry's `body_len` says whether a fourth part follows. A reader of version 1 that
//! predates it ignored nothing it needed, and this reader treats a missing part as "found by
//! periodic examination".
//!
//! Framing amortizes sled's per-value cost (measured: ~47K values/s) over dozens of items,
//! the checksum catches torn or corrupt values, and the table lets state rebuilds, filters
//! and inventories skip decompression. Bodies are compressed in chunks of ~32 KiB so that
//! reading one item (the previous version of a changed resource, a history step)
//! decompresses one chunk, not the whole frame: measured, whole-frame decompression was a
//! sixth of a 1M-resource poll.

use crate::error::{Error, Result};
use bytes::Bytes;
use driftlog_model::{ConfigurationItem, ResourceKey, Seq, Status};
use serde::{Deserialize, Serialize};

/// Version byte of every frame.
pub const FRAME_VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 4 + 4 + 4 + 4;
/// Uncompressed size after which a new chunk starts.
const CHUNK_BYTES: usize = 32 << 10;

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

/// True for the codes of deletion statuses.
pub fn is_deletion_code(c: u8) -> bool {
    status_from(c).is_deletion()
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
    /// Raw start offsets of the chunks (the first is 0).
    chunk_starts: Vec<usize>,
}

impl FrameBuilder {
    /// Starts a frame at `first_seq`.
    pub fn new(first_seq: Seq) -> Self {
        Self {
            first_seq,
            entries: Vec::new(),
            body: Vec::new(),
            chunk_starts: vec![0],
        }
    }

    /// Adds one item; its seq is `first_seq + entries.len()`.
    pub fn push(&mut self, entry: Entry, doc: &[u8], volatile: &[u8], diff: &[u8]) {
        self.push_attributed(entry, doc, volatile, diff, &[]);
    }

    /// Adds one item with its attribution (canonical JSON, empty for none: then no fourth
    /// part is written and the item's bytes are those of [`FrameBuilder::push`]).
    pub fn push_attributed(
        &mut self,
        mut entry: Entry,
        doc: &[u8],
        volatile: &[u8],
        diff: &[u8],
        attribution: &[u8],
    ) {
        let start = self.body.len();
        if start - self.chunk_starts.last().copied().unwrap_or(0) >= CHUNK_BYTES {
            self.chunk_starts.push(start);
        }
        let parts: &[&[u8]] = if attribution.is_empty() {
            &[doc, volatile, diff]
        } else {
            &[doc, volatile, diff, attribution]
        };
        for part in parts {
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
        self.encode()
    }

    /// The frame's bytes, the builder kept (frames of one batch are encoded in parallel).
    pub fn encode(&self) -> Vec<u8> {
        let mut table = Vec::with_capacity(4 + self.entries.len() * 160);
        table.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        let mut encoded = Vec::with_capacity(self.entries.len() * 150);
        let mut offsets = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            offsets.push(encoded.len() as u32);
            if let Ok(b) = bincode::serialize(e) {
                encoded.extend_from_slice(&b);
            }
        }
        for o in offsets {
            table.extend_from_slice(&o.to_be_bytes());
        }
        table.extend_from_slice(&encoded);
        let mut chunk_table = Vec::with_capacity(4 + 12 * self.chunk_starts.len());
        chunk_table.extend_from_slice(&(self.chunk_starts.len() as u32).to_be_bytes());
        let mut body = Vec::with_capacity(self.body.len() / 2);
        for (i, start) in self.chunk_starts.iter().enumerate() {
            let end = self
                .chunk_starts
                .get(i + 1)
                .copied()
                .unwrap_or(self.body.len());
            let c = lz4_flex::block::compress(&self.body[*start..end]);
            chunk_table.extend_from_slice(&(*start as u32).to_be_bytes());
            chunk_table.extend_from_slice(&((end - start) as u32).to_be_bytes());
            chunk_table.extend_from_slice(&(c.len() as u32).to_be_bytes());
            body.extend_from_slice(&c);
        }
        let mut out = Vec::with_capacity(HEADER + table.len() + chunk_table.len() + body.len());
        out.push(FRAME_VERSION);
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(table.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&table);
        crc.update(&chunk_table);
        crc.update(&body);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
        out.extend_from_slice(&table);
        out.extend_from_slice(&chunk_table);
        out.extend_from_slice(&body);
        out
    }
}

/// A decoded frame: its table, and its body decompressed on demand.
pub struct Frame {
    /// First sequence number.
    pub first_seq: Seq,
    raw: sled::IVec,
    /// Where each entry's bincode starts in `raw`, and where the last one ends.
    entry_at: Vec<usize>,
    /// All entries, decoded once for scans.
    entries: std::sync::OnceLock<Vec<Entry>>,
    chunks: Vec<Chunk>,
}

/// One compressed chunk of a frame body, decompressed at most once (frames are immutable).
struct Chunk {
    raw_start: usize,
    raw_len: usize,
    at: usize,
    len: usize,
    data: std::sync::OnceLock<Bytes>,
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
        let t = HEADER;
        if table_len < 4 || be_u32(&raw, t) as usize != count || 4 + 4 * count > table_len {
            return Err(corrupt(first_seq, "item count differs from table"));
        }
        let data = t + 4 + 4 * count;
        let mut entry_at = Vec::with_capacity(count + 1);
        for i in 0..count {
            let off = data + be_u32(&raw, t + 4 + 4 * i) as usize;
            if off > t + table_len || entry_at.last().is_some_and(|p| *p > off) {
                return Err(corrupt(first_seq, "entry offsets out of order"));
            }
            entry_at.push(off);
        }
        entry_at.push(t + table_len);
        if count == 0 {
            return Err(corrupt(first_seq, "empty frame"));
        }
        let mut at = HEADER + table_len;
        if at + 4 > raw.len() {
            return Err(corrupt(first_seq, "chunk table runs past the end"));
        }
        let n = be_u32(&raw, at) as usize;
        at += 4;
        if at + 12 * n > raw.len() {
            return Err(corrupt(first_seq, "chunk table runs past the end"));
        }
        let mut chunks = Vec::with_capacity(n);
        let mut data_at = at + 12 * n;
        for k in 0..n {
            let c = at + 12 * k;
            let len = be_u32(&raw, c + 8) as usize;
            chunks.push(Chunk {
                raw_start: be_u32(&raw, c) as usize,
                raw_len: be_u32(&raw, c + 4) as usize,
                at: data_at,
                len,
                data: std::sync::OnceLock::new(),
            });
            data_at += len;
        }
        if data_at != raw.len() || chunks.iter().map(|c| c.raw_len).sum::<usize>() != body_raw_len {
            return Err(corrupt(first_seq, "chunk sizes disagree with the frame"));
        }
        Ok(Self {
            first_seq,
            raw,
            entry_at,
            entries: std::sync::OnceLock::new(),
            chunks,
        })
    }

    /// Last sequence number in the frame.
    pub fn last_seq(&self) -> Seq {
        self.first_seq + self.len() as u64 - 1
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.entry_at.len() - 1
    }

    /// Always false: an empty frame does not decode.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `i`, decoding only that one unless all are decoded already.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the entry does not decode.
    pub fn entry(&self, i: usize) -> Result<Entry> {
        if let Some(all) = self.entries.get() {
            return all.get(i).cloned().ok_or_else(|| self.bad(i));
        }
        let (a, b) = (self.entry_at[i], self.entry_at[i + 1]);
        bincode::deserialize(&self.raw[a..b]).map_err(|e| Error::Corrupt {
            first_seq: self.first_seq,
            reason: format!("table entry {i}: {e}"),
        })
    }

    /// All entries, decoded once and kept (scans, subscribers).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when an entry does not decode.
    pub fn entries(&self) -> Result<&[Entry]> {
        if let Some(all) = self.entries.get() {
            return Ok(all);
        }
        let all = (0..self.len())
            .map(|i| {
                let (a, b) = (self.entry_at[i], self.entry_at[i + 1]);
                bincode::deserialize(&self.raw[a..b]).map_err(|e| Error::Corrupt {
                    first_seq: self.first_seq,
                    reason: format!("table entry {i}: {e}"),
                })
            })
            .collect::<Result<Vec<Entry>>>()?;
        Ok(self.entries.get_or_init(|| all))
    }

    fn bad(&self, i: usize) -> Error {
        Error::Corrupt {
            first_seq: self.first_seq,
            reason: format!("no entry {i}"),
        }
    }

    fn chunk(&self, k: usize) -> Result<Bytes> {
        let c = &self.chunks[k];
        if let Some(b) = c.data.get() {
            return Ok(b.clone());
        }
        let b = lz4_flex::block::decompress(&self.raw[c.at..c.at + c.len], c.raw_len)
            .map(Bytes::from)
            .map_err(|e| Error::Corrupt {
                first_seq: self.first_seq,
                reason: format!("body chunk {k}: {e}"),
            })?;
        Ok(c.data.get_or_init(|| b).clone())
    }

    /// Materializes item `i`, decompressing only the chunk that holds it.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the body does not hold the entry's slices.
    pub fn item(&self, i: usize) -> Result<ConfigurationItem> {
        if i >= self.len() {
            return Err(self.bad(i));
        }
        let e = self.entry(i)?;
        self.item_of(i, &e)
    }

    /// The id and status code of entry `i`, read from the fixed-size start of its bincode
    /// encoding (bincode 1.3 fixint: `id` as 16 bytes little-endian, then `status`): whole-log
    /// scans that only need "which resource, deleted or not" allocate nothing.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the entry is too short.
    pub fn id_status(&self, i: usize) -> Result<(u128, u8)> {
        let a = self.entry_at[i];
        if self.entry_at[i + 1] < a + 17 {
            return Err(self.bad(i));
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.raw[a..a + 16]);
        Ok((u128::from_le_bytes(id), self.raw[a + 16]))
    }

    /// Materializes item `i` whose entry `e` the caller already decoded.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the body does not hold the entry's slices.
    pub fn item_of(&self, i: usize, e: &Entry) -> Result<ConfigurationItem> {
        let corrupt = || Error::Corrupt {
            first_seq: self.first_seq,
            reason: format!("body of item {i} out of range"),
        };
        let off = e.body_offset as usize;
        let k = self
            .chunks
            .partition_point(|c| c.raw_start <= off)
            .checked_sub(1)
            .ok_or_else(corrupt)?;
        let body = self.chunk(k)?;
        let mut at = off - self.chunks[k].raw_start;
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
        let attribution = if at < end {
            if at + 4 > end {
                return Err(corrupt());
            }
            let mut l = [0u8; 4];
            l.copy_from_slice(&body[at..at + 4]);
            let len = u32::from_le_bytes(l) as usize;
            at += 4;
            if at + len != end {
                return Err(corrupt());
            }
            serde_json::from_slice(&body[at..end]).map_err(|e| Error::Corrupt {
                first_seq: self.first_seq,
                reason: format!("attribution of item {i}: {e}"),
            })?
        } else {
            Vec::new()
        };
        Ok(ConfigurationItem {
            seq: self.first_seq + i as u64,
            version: e.version,
            key: e.key(),
            status: e.status(),
            capture_time_ms: e.capture_time_ms,
            doc,
            volatile,
            diff,
            attribution,
        })
    }
}
