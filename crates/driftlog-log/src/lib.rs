//! The append-only log of configuration items in sled: the truth of driftlog.
//!
//! * [`Log`] is the only sled user. One writer appends a poll's items as one atomic batch
//!   of [`frame`]s keyed by big-endian sequence numbers (our own dense counter), flushes,
//!   and only then publishes the new watermark: no reader ever sees half a batch or an
//!   unflushed item, and every acknowledged item survives `kill -9`.
//! * Everything else is derived and rebuilt from the frames on open: the in-memory
//!   [`CurrentState`] of every resource, the time → sequence index, the reverse
//!   relationship index. Per-resource history needs no index: every item points to the
//!   previous item of its resource (`prev_seq`).
//! * Queries: [`Log::latest`], [`Log::history`], [`Log::inventory_at`], [`Log::changes`],
//!   [`Log::read_range`] (for subscribers), [`Log::related_to`] (reverse relationships).
//! * Side records that are not history live in typed [`Namespace`]s, each owned by one
//!   crate, versioned like the frames.

mod error;
pub mod frame;
pub mod namespace;
mod query;
mod rev;

pub use error::{Error, Result, StorageFailure};
pub use namespace::{Batch, Namespace};
pub use query::{HistoryPage, HistoryQuery, Order};
pub use rev::Related;

use driftlog_model::{Change, CurrentState, ResourceState, Seq};
use error::storage;
use frame::{status_code, Entry, Frame, FrameBuilder};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use tokio::sync::watch;

/// The store format this build reads and writes.
pub const STORE_FORMAT: &str = "driftlog-log/1";

/// Tunables of the store, with the defaults `driftlog serve` uses.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// sled's page cache in bytes. sled's own default (1 GiB) alone would blow the memory
    /// budget of a large estate; 64 MiB keeps RSS bounded and scans sequential.
    pub cache_bytes: u64,
    /// Cut a frame when its uncompressed body reaches this many bytes. Small enough that
    /// reading one item decompresses little (history p99), large enough to amortize sled.
    pub frame_bytes: usize,
    /// Cut a frame after this many items.
    pub frame_items: usize,
    /// Space kept in reserve on the store's disk (at most a twentieth of the disk): a
    /// preallocated ballast file next to the store, released the moment a write fails or
    /// free space runs below half of it, so that sled never runs the disk to zero itself —
    /// sled 0.34 hangs in a flush after an I/O error and can leave a store it cannot open
    /// when a write hits ENOSPC.
    pub reserve_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 64 << 20,
            frame_bytes: 128 << 10,
            frame_items: 512,
            // None by default (libraries and tests); `driftlog serve` keeps 64 MiB.
            reserve_bytes: 0,
        }
    }
}

struct Writer {
    next_seq: Seq,
    last_time_ms: i64,
}

/// The log. Share it behind an `Arc`; every method takes `&self`.
pub struct Log {
    path: PathBuf,
    db: sled::Db,
    frames: sled::Tree,
    meta: sled::Tree,
    times: sled::Tree,
    rev: RwLock<rev::RevIndex>,
    cursors: sled::Tree,
    batches: sled::Tree,
    /// Tags of batches (see [`Log::append_tagged`]), keyed by the log's last sequence after
    /// the write and 0 (a batch's own tag) or 1 (a tag with no items after it).
    tags: sled::Tree,
    kv: sled::Tree,
    audit: sled::Tree,
    /// This store's identity, generated when it was created (see [`Log::id`]).
    id: String,
    opts: LogOptions,
    state: RwLock<CurrentState>,
    writer: Mutex<Writer>,
    watermark: watch::Sender<Seq>,
    poisoned: AtomicBool,
    failure: Mutex<Option<StorageFailure>>,
    /// The reserve: its file, and the free space below which writes stop.
    ballast: PathBuf,
    min_free: u64,
    oldest: AtomicU64,
    inventory_floor: AtomicU64,
    /// Side-record writes refused and counted, not returned ([`Namespace::put_or_count`]).
    side_write_failures: AtomicU64,
    cache: Mutex<query::FrameCache>,
}

const META_FORMAT: &[u8] = b"format";
const META_INDEX_SEQ: &[u8] = b"index_seq";
const META_OLDEST: &[u8] = b"oldest_seq";
const META_INVENTORY_FLOOR: &[u8] = b"inventory_floor";
const META_LOG_ID: &[u8] = b"log_id";
/// Tags kept: the last batch can be torn and dropped at open, so the one before it must
/// still be there; a few more cost nothing.
const TAGS_KEPT: usize = 16;
/// First sequence from which every batch has its extent in the `batches` tree (stores
/// written before batch extents were kept have frames below it without one).
const META_BATCHES_FROM: &[u8] = b"batches_from";

fn u64_of(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    if v.len() == 8 {
        b.copy_from_slice(v);
    }
    u64::from_be_bytes(b)
}

/// Opens sled, waiting a little for the file lock: sled's background threads let go of a
/// dropped store asynchronously, so a reopen in the same process can briefly find it held.
/// Another process holding it is reported after the wait.
fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(cause) => {
                return Err(Error::Open {
                    path: path.to_path_buf(),
                    cause,
                })
            }
        }
    }
}

/// Time keys sort as unsigned big-endian: shift the signed epoch so that order is kept.
pub(crate) fn time_key(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

impl Log {
    /// Opens (or creates) the store at `path`, checks its format, and rebuilds what is
    /// derived: the current state from the frames, and any index entries the last run did
    /// not flush.
    ///
    /// # Errors
    /// [`Error::Open`] when sled cannot open it (another process holds it),
    /// [`Error::UnknownFormat`] for a store of another format, [`Error::Corrupt`] for a frame
    /// that fails its checksum.
    pub fn open(path: impl AsRef<Path>, opts: LogOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db = open_db(&path, opts.cache_bytes)?;
        let tree = |name: &str| db.open_tree(name).map_err(storage("open tree"));
        let frames = tree("log")?;
        let meta = tree("meta")?;
        let times = tree("time_index")?;
        let cursors = tree("cursors")?;
        let batches = tree("batches")?;
        let tags = tree("batch_tags")?;
        let kv = tree("kv")?;
        let audit = tree("audit")?;
        match meta.get(META_FORMAT).map_err(storage("read format"))? {
            Some(f) if &f[..] == STORE_FORMAT.as_bytes() => {}
            Some(f) => {
                return Err(Error::UnknownFormat {
                    path,
                    found: String::from_utf8_lossy(&f).into_owned(),
                    expected: STORE_FORMAT,
                })
            }
            None if frames.is_empty() => {
                meta.insert(META_FORMAT, STORE_FORMAT.as_bytes())
                    .map_err(storage("write format"))?;
                db.flush().map_err(storage("flush"))?;
            }
            None => {
                return Err(Error::UnknownFormat {
                    path,
                    found: "(none)".into(),
                    expected: STORE_FORMAT,
                })
            }
        }
        let oldest = meta
            .get(META_OLDEST)
            .map_err(storage("read oldest"))?
            .map_or(1, |v| u64_of(&v));
        let inventory_floor = meta
            .get(META_INVENTORY_FLOOR)
            .map_err(storage("read inventory floor"))?
            .map_or(0, |v| u64_of(&v));
        let id = match meta.get(META_LOG_ID).map_err(storage("read log id"))? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => {
                let id = new_log_id(&path);
                meta.insert(META_LOG_ID, id.as_bytes())
                    .map_err(storage("write log id"))?;
                db.flush().map_err(storage("flush"))?;
                id
            }
        };
        let (watermark, _) = watch::channel(0);
        let (ballast, min_free) = reserve(&path, opts.reserve_bytes);
        let log = Self {
            path,
            db,
            frames,
            meta,
            times,
            rev: RwLock::default(),
            cursors,
            batches,
            tags,
            kv,
            audit,
            id,
            opts,
            state: RwLock::new(CurrentState::new()),
            writer: Mutex::new(Writer {
                next_seq: 1,
                last_time_ms: i64::MIN,
            }),
            watermark,
            poisoned: AtomicBool::new(false),
            failure: Mutex::new(None),
            ballast,
            min_free,
            oldest: AtomicU64::new(oldest),
            inventory_floor: AtomicU64::new(inventory_floor),
            side_write_failures: AtomicU64::new(0),
            cache: Mutex::default(),
        };
        log.recover()?;
        Ok(log)
    }

    /// Removes a batch torn by a storage failure, before anything reads the frames.
    ///
    /// Every batch's extent (`first..=last`) goes to the `batches` tree before its frames.
    /// A flushed batch is whole. A batch whose flush failed (ENOSPC) was never published,
    /// yet sled may have kept any subset of its frames — holes included — and a reader must
    /// never see half a batch. Only the last batch can be torn (a failed append poisons the
    /// writer), so only it is checked: its frames must run without a gap from its first
    /// to its last sequence, and nothing may follow it. Otherwise the batch and whatever
    /// follows are dropped: never acknowledged, never seen, so nothing downstream can tell.
    fn drop_torn_tail(&self) -> Result<()> {
        let from = match self
            .meta
            .get(META_BATCHES_FROM)
            .map_err(storage("read batches from"))?
        {
            Some(v) => u64_of(&v),
            None => {
                // First open with batch extents: every batch from the end of the log on.
                let next = match self.frames.last().map_err(storage("seek log"))? {
                    Some((_, raw)) => Frame::decode(raw)?.last_seq() + 1,
                    None => self.oldest.load(Ordering::SeqCst).max(1),
                };
                self.meta
                    .insert(META_BATCHES_FROM, &next.to_be_bytes())
                    .map_err(storage("write batches from"))?;
                self.db.flush().map_err(storage("flush"))?;
                return Ok(());
            }
        };
        let last_batch = self
            .batches
            .last()
            .map_err(storage("read batches"))?
            .map(|(k, v)| (u64_of(&k), u64_of(&v)))
            .filter(|(first, _)| *first >= from);
        // Frames at and after the last batch's start (or, with none recorded, after
        // `from`) must be exactly that batch; where they are not, `cut` is where the
        // never-acknowledged tail begins.
        let (start, end) = match last_batch {
            Some((first, last)) => (first, Some(last)),
            None => (from, None),
        };
        // Retention may have dropped the batch's first frames: it starts at the oldest.
        let mut expected = start.max(self.oldest.load(Ordering::SeqCst));
        let mut cut = None;
        for kv in self.frames.range(start.to_be_bytes()..) {
            let (_, raw) = kv.map_err(storage("scan log"))?;
            let f = Frame::decode(raw)?;
            match end {
                // Frames after a whole last batch, with no extent of their own: a batch
                // whose extent was lost with some of its frames.
                Some(last) if f.first_seq > last && expected == last + 1 => {
                    cut = Some(last + 1);
                }
                Some(last) if f.first_seq == expected && f.last_seq() <= last => {
                    expected = f.last_seq() + 1;
                    continue;
                }
                // A gap inside the last batch, or frames where no batch was recorded.
                _ => cut = Some(start),
            }
            break;
        }
        if cut.is_none() && end.is_some_and(|last| expected != last + 1) {
            // The last batch lost its end (or all its frames).
            cut = Some(start);
        }
        let Some(start) = cut else {
            return Ok(());
        };
        let frames = remove_from(&self.frames, start)?;
        remove_from(&self.batches, start)?;
        remove_from(&self.tags, start)?;
        self.db.flush().map_err(storage("flush"))?;
        if frames > 0 {
            tracing::warn!(
                from = start,
                through = ?end,
                frames,
                "Dropped a batch a storage failure tore (never acknowledged, never published)."
            );
        }
        Ok(())
    }

    /// Replays the frames into the state and catches the derived indexes up.
    fn recover(&self) -> Result<()> {
        self.drop_torn_tail()?;
        let mut state = CurrentState::new();
        let mut rev = rev::RevIndex::default();
        let mut last_seq = 0;
        let mut last_time = i64::MIN;
        for kv in self.frames.iter() {
            let (_, raw) = kv.map_err(storage("scan log"))?;
            let f = Frame::decode(raw)?;
            for (i, e) in f.entries()?.iter().enumerate() {
                let seq = f.first_seq + i as u64;
                state.apply(&e.key(), e.id, resource_state(seq, e));
                rev.add(e.id, &e.edge_targets);
                last_time = last_time.max(e.capture_time_ms);
            }
            last_seq = f.last_seq();
        }
        let index_seq = self
            .meta
            .get(META_INDEX_SEQ)
            .map_err(storage("read index seq"))?
            .map_or(0, |v| u64_of(&v));
        if index_seq > last_seq {
            // Index entries for items that did not survive: drop every derived entry.
            self.times.clear().map_err(storage("clear time index"))?;
            self.reindex(self.oldest.load(Ordering::SeqCst), last_seq)?;
        } else if index_seq < last_seq {
            self.reindex(index_seq + 1, last_seq)?;
        }
        if index_seq != last_seq {
            self.meta
                .insert(META_INDEX_SEQ, &last_seq.to_be_bytes())
                .map_err(storage("write index seq"))?;
            self.db.flush().map_err(storage("flush"))?;
        }
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
        *self.rev.write().unwrap_or_else(|p| p.into_inner()) = rev;
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Never reuse a sequence number, even if retention dropped every frame.
        let last_seq = last_seq.max(self.oldest().saturating_sub(1));
        w.next_seq = last_seq + 1;
        w.last_time_ms = last_time;
        self.watermark.send_replace(last_seq);
        Ok(())
    }

    /// Rebuilds the time index entries of items `from..=to` from the frames.
    fn reindex(&self, from: Seq, to: Seq) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let mut batch_time = sled::Batch::default();
        for f in self.frames_from(from, false)? {
            let f = f?;
            for (i, e) in f.entries()?.iter().enumerate() {
                let seq = f.first_seq + i as u64;
                if (from..=to).contains(&seq) {
                    batch_time.insert(&time_key(e.capture_time_ms), &seq.to_be_bytes());
                }
            }
        }
        self.times
            .apply_batch(batch_time)
            .map_err(storage("rebuild time index"))?;
        Ok(())
    }

    /// Appends one poll's items as one atomic batch, flushes, then publishes them.
    ///
    /// Returns the sequence range given to the items (`None` for an empty batch). When this
    /// returns `Ok`, the items are durable and visible to readers; when it returns `Err`,
    /// none of them is acknowledged and the writer is poisoned.
    ///
    /// `capture_time_ms` is raised to one past the previous batch's if the clock went back,
    /// so time order and log order agree.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Storage`] when sled fails.
    pub fn append(
        &self,
        changes: &[Change],
        capture_time_ms: i64,
    ) -> Result<Option<std::ops::RangeInclusive<Seq>>> {
        self.append_tagged(changes, capture_time_ms, None)
    }

    /// As [`Log::append`], and stores `tag` atomically with the batch: a reader of
    /// [`Log::last_tag`] after any crash sees the tag of the last batch that survived
    /// whole, never one of a batch that was dropped. With no changes, the tag alone is
    /// stored (and flushed). An aggregator keeps in it how far it has applied each source,
    /// so that what it applied and where it stands can never disagree.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_tagged(
        &self,
        changes: &[Change],
        capture_time_ms: i64,
        tag: Option<&[u8]>,
    ) -> Result<Option<std::ops::RangeInclusive<Seq>>> {
        if changes.is_empty() {
            self.writable()?;
            if let Some(tag) = tag {
                let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                self.has_room("store a tag")?;
                self.put_tag(w.next_seq - 1, 1, tag)?;
                self.db.flush().map_err(self.write_failed("flush"))?;
            }
            return Ok(None);
        }
        // The room is checked once the frames are built and their size known.
        self.writable()?;
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let time = capture_time_ms.max(w.last_time_ms.saturating_add(1));
        let first = w.next_seq;
        let last = first + changes.len() as u64 - 1;

        let mut frames = sled::Batch::default();
        let mut frame_bytes = 0u64;
        let mut fb = FrameBuilder::new(first);
        let mut built: Vec<FrameBuilder> = Vec::new();
        // The relationship parse is the heaviest per-item step: spread it over the cores
        // for big batches (first discovery), in order.
        let edges: Vec<Vec<u128>> = parallel_map(changes, |c| rev::edge_targets(&c.doc));
        for (i, c) in changes.iter().enumerate() {
            if !fb.is_empty()
                && (fb.body_len() >= self.opts.frame_bytes || fb.len() >= self.opts.frame_items)
            {
                built.push(std::mem::replace(
                    &mut fb,
                    FrameBuilder::new(first + i as u64),
                ));
            }
            let attribution: Vec<u8> = if c.attribution.is_empty() {
                Vec::new()
            } else {
                // Serializing plain strings cannot fail; an empty part would only lose the
                // attribution, never the item.
                serde_json::to_vec(&c.attribution).unwrap_or_default()
            };
            fb.push_attributed(
                Entry {
                    id: c.id,
                    status: status_code(c.status),
                    version: c.version,
                    prev_seq: c.prev_seq.unwrap_or(0),
                    capture_time_ms: time,
                    doc_hash: c.doc_hash,
                    volatile_hash: c.volatile_hash,
                    account: c.key.account.clone(),
                    region: c.key.region.clone(),
                    resource_type: c.key.resource_type.clone(),
                    resource_id: c.key.resource_id.clone(),
                    edge_targets: edges[i].clone(),
                    body_offset: 0,
                    body_len: 0,
                },
                &c.doc,
                &c.volatile,
                &c.diff,
                &attribution,
            );
        }
        built.push(fb);
        // Encoding and compressing a frame shares nothing with the others: on all cores
        // when the batch has several, inserted in order.
        let finished = parallel_map_from(&built, 2, FrameBuilder::encode);
        for (b, bytes) in built.iter().zip(finished) {
            frame_bytes += bytes.len() as u64;
            frames.insert(&b.first_seq.to_be_bytes(), bytes);
        }
        // A batch larger than the room left would fill the disk inside sled's own writes
        // (which then fail every later read too): refused before sled sees it.
        self.has_room_for("append frames", frame_bytes)?;

        let result = (|| -> Result<()> {
            // The batch's extent first: a batch a storage failure tears is found and
            // dropped at the next open (see `drop_torn_tail`).
            self.batches
                .insert(first.to_be_bytes(), &last.to_be_bytes())
                .map_err(self.write_failed("batch extent"))?;
            // The tag between the extent and the frames: a batch dropped as torn at open
            // takes its tag with it, and a whole batch has one (sled keeps a prefix).
            if let Some(tag) = tag {
                self.put_tag(last, 0, tag)?;
            }
            self.frames
                .apply_batch(frames)
                .map_err(self.write_failed("append frames"))?;
            // Derived indexes: written after the frames, rebuilt from them if lost.
            self.times
                .insert(time_key(time), &last.to_be_bytes())
                .map_err(self.write_failed("time index"))?;
            self.meta
                .insert(META_INDEX_SEQ, &last.to_be_bytes())
                .map_err(self.write_failed("index seq"))?;
            self.db.flush().map_err(self.write_failed("flush"))?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, first, last, "Append failed; the log writer is poisoned.");
            return Err(e);
        }
        {
            let mut rev = self.rev.write().unwrap_or_else(|p| p.into_inner());
            for (c, t) in changes.iter().zip(&edges) {
                rev.add(c.id, t);
            }
        }
        {
            let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
            for (i, c) in changes.iter().enumerate() {
                st.apply(
                    &c.key,
                    c.id,
                    ResourceState {
                        seq: first + i as u64,
                        version: c.version,
                        doc_hash: c.doc_hash,
                        volatile_hash: c.volatile_hash,
                        deleted: c.status.is_deletion(),
                    },
                );
            }
            w.next_seq = last + 1;
            w.last_time_ms = time;
            // Published while the state is still write-locked: a reader holding the state
            // lock sees a state and a watermark that agree.
            self.watermark.send_replace(last);
        }
        Ok(Some(first..=last))
    }

    /// Stores a tag under `(seq, n)` and drops tags older than the last [`TAGS_KEPT`].
    fn put_tag(&self, seq: Seq, n: u32, tag: &[u8]) -> Result<()> {
        let mut key = [0u8; 12];
        key[..8].copy_from_slice(&seq.to_be_bytes());
        key[8..].copy_from_slice(&n.to_be_bytes());
        self.tags
            .insert(key, tag)
            .map_err(self.write_failed("batch tag"))?;
        let old: Vec<sled::IVec> = self
            .tags
            .iter()
            .keys()
            .rev()
            .skip(TAGS_KEPT)
            .collect::<std::result::Result<_, _>>()
            .map_err(storage("scan tags"))?;
        for k in old {
            self.tags
                .remove(k)
                .map_err(self.write_failed("drop old tag"))?;
        }
        Ok(())
    }

    /// The tag stored with the last batch (or alone after it) by [`Log::append_tagged`].
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn last_tag(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tags
            .last()
            .map_err(storage("read tags"))?
            .map(|(_, v)| v.to_vec()))
    }

    /// This store's identity: generated when the store was created and kept with it, so a
    /// reader of what it publishes (an aggregator) can tell a store that was reset or
    /// replaced — its sequences start again — from the one it knew.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Notes volatile-only ticks in the state (they are counted, never written).
    pub fn note_volatile(&self, ticks: &[(u128, u64)]) {
        if ticks.is_empty() {
            return;
        }
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        for (id, h) in ticks {
            st.set_volatile_hash(*id, *h);
        }
    }

    /// The current state, read-locked: the diff stage compares against it.
    pub fn state(&self) -> RwLockReadGuard<'_, CurrentState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Last published (durable, visible) sequence number.
    pub fn watermark(&self) -> Seq {
        *self.watermark.borrow()
    }

    /// A receiver woken at every publish: subscribers wait on it, then read the log.
    pub fn subscribe_watermark(&self) -> watch::Receiver<Seq> {
        self.watermark.subscribe()
    }

    /// Oldest sequence the log still holds.
    pub fn oldest(&self) -> Seq {
        self.oldest.load(Ordering::SeqCst)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once a storage failure has poisoned the writer.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    /// The first storage failure of a write, if any: from then on the store takes no more
    /// writes in this process (sled keeps its first I/O error and fails every later write
    /// with it), so the recorder has stopped and a restart — with space freed, for a full
    /// disk — resumes. Reads keep working.
    pub fn storage_failure(&self) -> Option<StorageFailure> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Refuses writes once the store failed: sled keeps failing them anyway, and a flush
    /// after its I/O error can wait forever (seen on a full disk), which would hang the
    /// caller — a `rules add`, an API call — instead of telling it.
    fn writable(&self) -> Result<()> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Error::Poisoned {
                cause: self
                    .storage_failure()
                    .map_or_else(|| "unknown".into(), |f| f.message),
            });
        }
        Ok(())
    }

    /// Before anything that reaches the disk: stops writing — as a storage failure — when
    /// free space has run into the reserve, so the disk never fills under sled.
    fn has_room(&self, op: &'static str) -> Result<()> {
        self.has_room_for(op, 0)
    }

    /// As [`Log::has_room`] for a write of about `bytes`: sled writes them to its log and
    /// again when it rewrites the pages, so twice that must fit above the reserve.
    fn has_room_for(&self, op: &'static str, bytes: u64) -> Result<()> {
        self.writable()?;
        if self.min_free == 0 {
            return Ok(());
        }
        let free = fs2::available_space(&self.path).unwrap_or(u64::MAX);
        if free >= self.min_free.saturating_add(bytes.saturating_mul(2)) {
            return Ok(());
        }
        let cause = sled::Error::Io(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            if bytes == 0 {
                format!(
                    "No space left on device ({free} bytes free on the data dir's disk, below the {} kept in reserve)",
                    self.min_free
                )
            } else {
                format!(
                    "No space left on device ({free} bytes free on the data dir's disk, too few for a write of {bytes} bytes above the {} kept in reserve)",
                    self.min_free
                )
            },
        ));
        Err(self.write_failed(op)(cause))
    }

    /// The error mapper of every write: a failed write poisons the writer and is kept, the
    /// first one only, as the store's [`StorageFailure`].
    fn write_failed(&self, op: &'static str) -> impl FnOnce(sled::Error) -> Error + '_ {
        move |source| {
            let e = Error::Storage { op, cause: source };
            // Room for whatever sled still has to write; nothing more comes from us.
            let _ = std::fs::remove_file(&self.ballast);
            let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_none() {
                *f = Some(StorageFailure {
                    since_ms: driftlog_model::time::now_ms(),
                    code: e.code(),
                    message: e.to_string(),
                });
            }
            self.poisoned.store(true, Ordering::SeqCst);
            e
        }
    }

    /// Retention: drops the frames that lie wholly before `seq`, stopping at the first frame
    /// that still holds the latest item of a live resource (the current state must stay
    /// rebuildable from the log). Returns how many items were dropped.
    ///
    /// Afterwards readers asking for a position before the new oldest get
    /// [`Error::SnapshotRequired`], and so does `inventory_at` for any time before this call
    /// (an older inventory may need items that are gone).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn truncate_before(&self, seq: Seq) -> Result<u64> {
        self.writable()?;
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let seq = seq.min(self.watermark() + 1);
        let mut drop_keys = Vec::new();
        let mut dropped = 0;
        let mut new_oldest = self.oldest();
        {
            let st = self.state();
            for kv in self.frames.range(..seq.to_be_bytes()) {
                let (k, raw) = kv.map_err(storage("scan log"))?;
                let f = Frame::decode(raw)?;
                let holds_live_head = f.entries()?.iter().enumerate().any(|(i, e)| {
                    st.get(e.id)
                        .is_some_and(|s| !s.deleted && s.seq == f.first_seq + i as u64)
                });
                if f.last_seq() >= seq || holds_live_head {
                    break;
                }
                drop_keys.push(k);
                dropped += f.len() as u64;
                new_oldest = new_oldest.max(f.last_seq() + 1);
            }
        }
        if drop_keys.is_empty() {
            return Ok(0);
        }
        // Oldest and the inventory floor first: a crash after this point leaves frames that
        // are merely unreachable, never a reader that walks into a gap.
        self.meta
            .insert(META_OLDEST, &new_oldest.to_be_bytes())
            .map_err(self.write_failed("write oldest"))?;
        self.meta
            .insert(META_INVENTORY_FLOOR, &self.watermark().to_be_bytes())
            .map_err(self.write_failed("write inventory floor"))?;
        self.db.flush().map_err(self.write_failed("flush"))?;
        self.oldest.store(new_oldest, Ordering::SeqCst);
        self.inventory_floor
            .store(self.watermark(), Ordering::SeqCst);
        let mut batch = sled::Batch::default();
        for k in drop_keys {
            batch.remove(k);
        }
        self.frames
            .apply_batch(batch)
            .map_err(self.write_failed("truncate"))?;
        // The extents of wholly dropped batches go too (only the last batch's is ever read;
        // a batch retention cut into keeps its extent).
        let mut extents = sled::Batch::default();
        for kv in self.batches.range(..new_oldest.to_be_bytes()) {
            let (k, last) = kv.map_err(storage("scan batches"))?;
            if u64_of(&last) < new_oldest {
                extents.remove(k);
            }
        }
        self.batches
            .apply_batch(extents)
            .map_err(self.write_failed("truncate"))?;
        self.db.flush().map_err(self.write_failed("flush"))?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(dropped)
    }

    /// Below this sequence `inventory_at` cannot be answered (see [`Log::truncate_before`]).
    pub fn inventory_floor(&self) -> Seq {
        self.inventory_floor.load(Ordering::SeqCst)
    }

    /// The durable cursor of a named subscriber: the last sequence it acknowledged.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn cursor(&self, name: &str) -> Result<Option<Seq>> {
        Ok(self
            .cursors
            .get(name.as_bytes())
            .map_err(storage("read cursor"))?
            .map(|v| u64_of(&v)))
    }

    /// Stores a named subscriber's acknowledgement durably (flushed before returning).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn set_cursor(&self, name: &str, seq: Seq) -> Result<()> {
        self.has_room("flush")?;
        self.set_cursor_lazy(name, seq)?;
        self.db.flush().map_err(self.write_failed("flush cursor"))?;
        Ok(())
    }

    /// Moves a cursor without waiting for the disk: durable with the next flush (sled's
    /// own, at most half a second later). For readers whose replay after a crash is
    /// harmless — they find their work already done — and who move often.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn set_cursor_lazy(&self, name: &str, seq: Seq) -> Result<()> {
        self.writable()?;
        self.cursors
            .insert(name.as_bytes(), &seq.to_be_bytes())
            .map_err(self.write_failed("write cursor"))?;
        Ok(())
    }

    /// Names and positions of all durable cursors.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn cursors(&self) -> Result<Vec<(String, Seq)>> {
        self.cursors
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(storage("scan cursors"))?;
                Ok((String::from_utf8_lossy(&k).into_owned(), u64_of(&v)))
            })
            .collect()
    }

    /// Small side records (recorder status, settings) that are not part of the history.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn put_kv(&self, key: &str, value: &[u8]) -> Result<()> {
        self.writable()?;
        self.kv
            .insert(key.as_bytes(), value)
            .map_err(self.write_failed("write kv"))?;
        Ok(())
    }

    /// Reads a side record.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .kv
            .get(key.as_bytes())
            .map_err(storage("read kv"))?
            .map(|v| v.to_vec()))
    }

    /// Removes a side record (absent is fine).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn remove_kv(&self, key: &str) -> Result<()> {
        self.writable()?;
        self.kv
            .remove(key.as_bytes())
            .map_err(self.write_failed("remove kv"))?;
        Ok(())
    }

    /// Up to `max` side records whose keys start with `prefix`, in key order: queues kept
    /// as one record per entry, so adding or removing one never rewrites the rest.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn kv_prefix(&self, prefix: &str, max: usize) -> Result<Vec<(String, Vec<u8>)>> {
        self.kv_page(prefix, None, max)
    }

    /// Removes a side record only if it still holds `expected` (compare-and-swap): a
    /// marker rewritten meanwhile by someone else stays.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn remove_kv_if(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.writable()?;
        let r = self
            .kv
            .compare_and_swap(key.as_bytes(), Some(expected), None as Option<&[u8]>)
            .map_err(self.write_failed("remove kv if"))?;
        Ok(r.is_ok())
    }

    /// Up to `max` side records under `prefix` whose keys sort after `after` (all when
    /// `None`): one page of a large side index, resumed from its last key.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn kv_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let start: Vec<u8> = match after {
            Some(a) => {
                let mut k = a.as_bytes().to_vec();
                k.push(0);
                k
            }
            None => prefix.as_bytes().to_vec(),
        };
        self.kv
            .range(start..)
            .take_while(|kv| {
                kv.as_ref()
                    .map_or(true, |(k, _)| k.starts_with(prefix.as_bytes()))
            })
            .take(max)
            .map(|kv| {
                let (k, v) = kv.map_err(storage("scan kv"))?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    /// Writes and removes several side records at once (all or none): two entries of one
    /// index never disagree after a crash.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn apply_kv(&self, puts: &[(String, Vec<u8>)], removes: &[String]) -> Result<()> {
        self.writable()?;
        let mut b = sled::Batch::default();
        for (k, v) in puts {
            b.insert(k.as_bytes(), v.as_slice());
        }
        for k in removes {
            b.remove(k.as_bytes());
        }
        self.kv
            .apply_batch(b)
            .map_err(self.write_failed("write kv batch"))?;
        Ok(())
    }

    /// How many side records have keys starting with `prefix`.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn kv_prefix_len(&self, prefix: &str) -> Result<usize> {
        let mut n = 0;
        for kv in self.kv.scan_prefix(prefix.as_bytes()) {
            kv.map_err(storage("scan kv"))?;
            n += 1;
        }
        Ok(n)
    }

    /// Appends one record to the audit trail of the control plane (who called what, with
    /// which result) and returns its number: increasing, never reused. Durable with the
    /// next flush (the caller flushes for calls that change something).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn append_audit(&self, record: &[u8]) -> Result<u64> {
        self.writable()?;
        let id = self
            .db
            .generate_id()
            .map_err(self.write_failed("audit id"))?
            + 1;
        self.audit
            .insert(id.to_be_bytes(), record)
            .map_err(self.write_failed("write audit"))?;
        Ok(id)
    }

    /// Up to `max` audit records numbered above `after`, oldest first, or (with
    /// `newest_first`) numbered below `after` (`u64::MAX` for the newest), newest first.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn audit_records(
        &self,
        after: u64,
        max: usize,
        newest_first: bool,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let to = |kv: sled::Result<(sled::IVec, sled::IVec)>| {
            let (k, v) = kv.map_err(storage("scan audit"))?;
            Ok((u64_of(&k), v.to_vec()))
        };
        if newest_first {
            self.audit
                .range(..after.to_be_bytes())
                .rev()
                .take(max)
                .map(to)
                .collect()
        } else {
            self.audit
                .range(after.saturating_add(1).to_be_bytes()..)
                .take(max)
                .map(to)
                .collect()
        }
    }

    /// Flushes side records and cursors.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn flush(&self) -> Result<()> {
        self.has_room("flush")?;
        self.db.flush().map_err(self.write_failed("flush"))?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Removes every key of `tree` from `start` (big-endian) on, in one batch; how many.
/// A new store's identity: 32 hex digits from the process's random hasher keys, the time
/// and the path (unique enough to tell stores apart; it is a name, not a secret).
fn new_log_id(path: &Path) -> String {
    use std::hash::{BuildHasher, Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        salt.hash(&mut h);
        path.hash(&mut h);
        std::process::id().hash(&mut h);
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(0), half(1))
}

fn remove_from(tree: &sled::Tree, start: Seq) -> Result<usize> {
    let mut drop = sled::Batch::default();
    let mut n = 0;
    for k in tree.range(start.to_be_bytes()..).keys() {
        drop.remove(k.map_err(storage("scan"))?);
        n += 1;
    }
    tree.apply_batch(drop).map_err(storage("drop torn batch"))?;
    Ok(n)
}

/// Sets up the reserve of a store at `path`: a ballast file beside it of `bytes` (at most
/// a twentieth of the disk), preallocated so the space is really held. Returns the file and
/// the free space below which writes stop (half the reserve). Best effort: without room
/// for it, the store works without one.
fn reserve(path: &Path, bytes: u64) -> (PathBuf, u64) {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".ballast");
    let ballast = path.with_file_name(name);
    if bytes == 0 {
        let _ = std::fs::remove_file(&ballast);
        return (ballast, 0);
    }
    let size = fs2::total_space(path).map_or(bytes, |t| bytes.min(t / 20));
    let held = std::fs::metadata(&ballast).map_or(0, |m| m.len());
    if held < size {
        let made = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&ballast)
            .and_then(|f| fs2::FileExt::allocate(&f, size));
        if let Err(e) = made {
            let _ = std::fs::remove_file(&ballast);
            tracing::warn!(error = %e, path = %ballast.display(), "No room for the store's reserve; a full disk may stop recording abruptly.");
        }
    }
    // sled claims disk a 512 KiB segment at a time, from its own flusher as well as from our
    // writes: stop with room for two, however small the disk, so its next segment never
    // meets a full disk (sled then fails every later read as well).
    (ballast, (size / 2).max(SLED_SEGMENT_BYTES * 2))
}

/// sled 0.34's log segment (its default `segment_size`).
const SLED_SEGMENT_BYTES: u64 = 512 * 1024;

/// `f` over `items`, in order, on all cores when there are many.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    parallel_map_from(items, 4096, f)
}

/// [`parallel_map`] for work whose items are heavy: on several threads from `min` items.
fn parallel_map_from<T: Sync, R: Send>(
    items: &[T],
    min: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if items.len() < min.max(2) || threads < 2 {
        return items.iter().map(&f).collect();
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn resource_state(seq: Seq, e: &Entry) -> ResourceState {
    ResourceState {
        seq,
        version: e.version,
        doc_hash: e.doc_hash,
        volatile_hash: e.volatile_hash,
        deleted: e.deleted(),
    }
}
