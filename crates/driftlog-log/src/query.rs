//! Reads: every one is bounded by the published watermark, so it never sees an item that is
//! not yet durable, nor half a batch.

use crate::error::{storage, Error, Result};
use crate::frame::{Entry, Frame};
use crate::{time_key, u64_of, Log};
use driftlog_model::{ConfigurationItem, Filter, ResourceKey, ResourceRef, Seq};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Order of a history page, as GetResourceConfigHistory's `chronologicalOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Newest first (AWS's default).
    #[default]
    Reverse,
    /// Oldest first.
    Forward,
}

/// One page request of a resource's history.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Oldest capture time to include (epoch ms); `None` from the first item.
    pub earlier_ms: Option<i64>,
    /// Newest capture time to include; `None` up to now.
    pub later_ms: Option<i64>,
    /// Page order.
    pub order: Order,
    /// Items per page.
    pub limit: usize,
    /// Continue from this token (the `next` of a previous page).
    pub token: Option<Seq>,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        Self {
            earlier_ms: None,
            later_ms: None,
            order: Order::Reverse,
            limit: 10,
            token: None,
        }
    }
}

/// A page of history.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// Items in the requested order.
    pub items: Vec<ConfigurationItem>,
    /// Token of the next page, if any.
    pub next: Option<Seq>,
}

/// Iterates frames from the one holding `from`.
pub struct Frames<'a> {
    inner: sled::Iter,
    log: &'a Log,
    cached: bool,
}

impl Iterator for Frames<'_> {
    type Item = Result<Arc<Frame>>;
    fn next(&mut self) -> Option<Self::Item> {
        let kv = self.inner.next()?;
        Some(kv.map_err(storage("scan log")).and_then(|(k, raw)| {
            if self.cached {
                self.log.cached_frame(u64_of(&k), raw)
            } else {
                Frame::decode(raw).map(Arc::new)
            }
        }))
    }
}

/// The most recently read frames, decoded (and their bodies decompressed) once and shared:
/// a hundred subscribers reading the newest batch decode it once, and a history walk or a
/// diff that touches neighbouring items of one frame does not decompress it again.
#[derive(Default)]
pub(crate) struct FrameCache {
    frames: BTreeMap<Seq, Arc<Frame>>,
    order: VecDeque<Seq>,
}

/// Frames kept decoded (at most ~48 KiB uncompressed each).
const CACHE_FRAMES: usize = 256;

impl FrameCache {
    fn holding(&self, seq: Seq) -> Option<Arc<Frame>> {
        self.frames
            .range(..=seq)
            .next_back()
            .filter(|(_, f)| seq <= f.last_seq())
            .map(|(_, f)| f.clone())
    }

    fn insert(&mut self, f: Arc<Frame>) {
        if self.frames.insert(f.first_seq, f.clone()).is_none() {
            self.order.push_back(f.first_seq);
        }
        while self.order.len() > CACHE_FRAMES {
            if let Some(old) = self.order.pop_front() {
                self.frames.remove(&old);
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.order.clear();
    }
}

impl Log {
    fn cached_frame(&self, first_seq: Seq, raw: sled::IVec) -> Result<Arc<Frame>> {
        if let Some(f) = self.cache().holding(first_seq) {
            return Ok(f);
        }
        let f = Arc::new(Frame::decode(raw)?);
        self.cache().insert(f.clone());
        Ok(f)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, FrameCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Frames from the one holding `from`; `cached` shares decoded frames through the cache
    /// (for hot reads), otherwise they are decoded privately (for whole-log scans that would
    /// only evict the hot frames).
    pub(crate) fn frames_from(&self, from: Seq, cached: bool) -> Result<Frames<'_>> {
        let start = match self
            .frames
            .range(..=from.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(storage("seek log"))?
        {
            Some((k, _)) => u64_of(&k),
            None => from,
        };
        Ok(Frames {
            inner: self.frames.range(start.to_be_bytes()..),
            log: self,
            cached,
        })
    }

    fn frame_at(&self, seq: Seq) -> Result<Arc<Frame>> {
        if let Some(f) = self.cache().holding(seq) {
            return Ok(f);
        }
        let (_, raw) = self
            .frames
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(storage("seek log"))?
            .ok_or(Error::Missing { seq })?;
        let f = Frame::decode(raw)?;
        if seq > f.last_seq() {
            return Err(Error::Missing { seq });
        }
        let f = Arc::new(f);
        self.cache().insert(f.clone());
        Ok(f)
    }

    pub(crate) fn entry_at(&self, seq: Seq) -> Result<Entry> {
        let f = self.frame_at(seq)?;
        let i = (seq - f.first_seq) as usize;
        f.entry(i)
    }

    /// Reads one item, not bounded by the watermark (the writer and recovery use it).
    pub(crate) fn item(&self, seq: Seq) -> Result<ConfigurationItem> {
        let f = self.frame_at(seq)?;
        f.item((seq - f.first_seq) as usize)
    }

    /// The document recorded at `seq`, published or not: the writer's own read, used by the
    /// diff stage (which runs under the recorder's writer lock, so it never races an append).
    ///
    /// # Errors
    /// [`Error::Missing`] when the log does not hold `seq`; storage or corruption errors.
    pub fn doc_at(&self, seq: Seq) -> Result<bytes::Bytes> {
        Ok(self.item(seq)?.doc)
    }

    /// When the item at `seq` was captured (epoch ms), read from its frame's table only.
    ///
    /// # Errors
    /// [`Error::Missing`] when the log does not hold `seq`; storage or corruption errors.
    pub fn capture_time_at(&self, seq: Seq) -> Result<i64> {
        Ok(self.entry_at(seq)?.capture_time_ms)
    }

    /// The item at `seq`, if it is published and still held.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Corrupt`].
    pub fn get(&self, seq: Seq) -> Result<Option<ConfigurationItem>> {
        if seq == 0 || seq > self.watermark() || seq < self.oldest() {
            return Ok(None);
        }
        self.item(seq).map(Some)
    }

    /// Walks a resource's chain back from `seq` to the newest item at or below `bound`.
    pub(crate) fn head_at_or_below(&self, mut seq: Seq, bound: Seq) -> Result<Option<Seq>> {
        while seq > bound {
            let e = self.entry_at(seq)?;
            if e.prev_seq == 0 {
                return Ok(None);
            }
            seq = e.prev_seq;
        }
        Ok(Some(seq))
    }

    /// The latest published item of `key`, deleted or not.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Corrupt`].
    pub fn latest(&self, key: &ResourceKey) -> Result<Option<ConfigurationItem>> {
        let Some(head) = self.state().get(key.id_hash()).map(|s| s.seq) else {
            return Ok(None);
        };
        match self.head_at_or_below(head, self.watermark())? {
            Some(seq) => self.get(seq),
            None => Ok(None),
        }
    }

    /// The item of `key` as of time `at_ms`: the newest captured at or before it.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Corrupt`].
    pub fn at_time(&self, key: &ResourceKey, at_ms: i64) -> Result<Option<ConfigurationItem>> {
        let page = self.history(
            key,
            &crate::HistoryQuery {
                later_ms: Some(at_ms),
                limit: 1,
                ..Default::default()
            },
        )?;
        Ok(page.items.into_iter().next())
    }

    /// Every recorded key a user's `TYPE/ID` (or full form) can mean, sorted.
    pub fn resolve(&self, r: &ResourceRef) -> Vec<ResourceKey> {
        let mut v: Vec<ResourceKey> = self.state().keys().filter(|k| r.matches(k)).collect();
        v.sort();
        v
    }

    /// The last published sequence whose capture time is at or before `at_ms` (0: none).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn seq_at_time(&self, at_ms: i64) -> Result<Seq> {
        let w = self.watermark();
        for kv in self.times.range(..=time_key(at_ms)).rev() {
            let (_, v) = kv.map_err(storage("time index"))?;
            let seq = u64_of(&v);
            if seq <= w {
                return Ok(seq);
            }
        }
        Ok(0)
    }

    /// One page of a resource's history, walking its `prev_seq` chain (no index needed).
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Corrupt`].
    pub fn history(&self, key: &ResourceKey, q: &HistoryQuery) -> Result<HistoryPage> {
        let limit = q.limit.max(1);
        let Some(head) = self.state().get(key.id_hash()).map(|s| s.seq) else {
            return Ok(HistoryPage::default());
        };
        let bound = match (q.order, q.token) {
            (Order::Reverse, Some(t)) => t.min(self.watermark()),
            _ => self.watermark(),
        };
        let Some(mut seq) = self.head_at_or_below(head, bound)? else {
            return Ok(HistoryPage::default());
        };
        let earlier = q.earlier_ms.unwrap_or(i64::MIN);
        let later = q.later_ms.unwrap_or(i64::MAX);
        let oldest = self.oldest();
        // Walk newest → oldest over entries only; bodies are read for returned items.
        let mut chain: Vec<Seq> = Vec::new();
        let mut next = None;
        loop {
            if seq < oldest {
                break;
            }
            let e = self.entry_at(seq)?;
            if e.capture_time_ms < earlier {
                break;
            }
            if e.capture_time_ms <= later {
                if q.order == Order::Reverse && chain.len() == limit {
                    next = Some(seq);
                    break;
                }
                chain.push(seq);
            }
            if e.prev_seq == 0 {
                break;
            }
            seq = e.prev_seq;
        }
        if q.order == Order::Forward {
            chain.reverse();
            if let Some(t) = q.token {
                chain.retain(|s| *s >= t);
            }
            if chain.len() > limit {
                next = Some(chain[limit]);
                chain.truncate(limit);
            }
        }
        let items = chain
            .into_iter()
            .map(|s| self.item(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(HistoryPage { items, next })
    }

    /// Published items after `after`, at most `max` matching `filter`, in log order.
    ///
    /// Returns the items and the last sequence examined, so a cursor moves past items the
    /// filter skipped. This is what subscribers read after every wake-up.
    ///
    /// # Errors
    /// [`Error::SnapshotRequired`] when `after + 1` is older than the log holds.
    pub fn read_range(
        &self,
        after: Seq,
        max: usize,
        filter: &Filter,
    ) -> Result<(Vec<ConfigurationItem>, Seq)> {
        let w = self.watermark();
        self.ensure_held(after)?;
        let mut out = Vec::new();
        let mut last = after;
        if after >= w {
            return Ok((out, last));
        }
        for f in self.frames_from(after + 1, true)? {
            let f = f?;
            for (i, e) in f.entries()?.iter().enumerate() {
                let seq = f.first_seq + i as u64;
                if seq <= after {
                    continue;
                }
                if seq > w || out.len() >= max {
                    self.ensure_held(after)?;
                    return Ok((out, last));
                }
                last = seq;
                if filter.matches_parts(
                    &e.account,
                    &e.region,
                    &e.resource_type,
                    &e.resource_id,
                    e.status(),
                ) {
                    // Own copies: a lagging subscriber must not pin whole body chunks.
                    let mut item = f.item(i)?;
                    item.doc = bytes::Bytes::copy_from_slice(&item.doc);
                    item.volatile = bytes::Bytes::copy_from_slice(&item.volatile);
                    item.diff = bytes::Bytes::copy_from_slice(&item.diff);
                    out.push(item);
                }
            }
        }
        self.ensure_held(after)?;
        Ok((out, last))
    }

    /// [`Error::SnapshotRequired`] unless the item after `after` is still held: retention
    /// dropped what a reader there has not read (also checked after a read, since frames
    /// may be dropped while it runs), and reading on would be a silent gap.
    ///
    /// # Errors
    /// [`Error::SnapshotRequired`].
    pub fn ensure_held(&self, after: Seq) -> Result<()> {
        let oldest = self.oldest();
        if after.saturating_add(1) < oldest {
            return Err(Error::SnapshotRequired {
                requested: after.saturating_add(1),
                oldest,
            });
        }
        Ok(())
    }

    /// Calls `f` with every published item captured in `[from_ms, to_ms]` that matches
    /// `filter`, in log order; `f` returns false to stop. Returns how many were passed.
    ///
    /// # Errors
    /// [`Error::Storage`] or [`Error::Corrupt`].
    pub fn changes(
        &self,
        from_ms: i64,
        to_ms: i64,
        filter: &Filter,
        mut f: impl FnMut(ConfigurationItem) -> bool,
    ) -> Result<u64> {
        let start = self
            .seq_at_time(from_ms.saturating_sub(1))?
            .max(self.oldest() - 1);
        let end = self.seq_at_time(to_ms)?;
        let mut n = 0;
        let mut after = start;
        while after < end {
            let (items, last) = self.read_range(after, 1024, filter)?;
            for it in items {
                if it.seq > end {
                    return Ok(n);
                }
                if it.capture_time_ms >= from_ms {
                    n += 1;
                    if !f(it) {
                        return Ok(n);
                    }
                }
            }
            if last == after {
                break;
            }
            after = last;
        }
        Ok(n)
    }

    /// Streams the whole inventory as it was at `at_ms`: for every resource that existed
    /// then, its item as of then, in log order. Two sequential passes over the frames (the
    /// first reads only tables), so memory holds one small entry per resource, never the
    /// log. `f` returns false to stop; returns how many items were passed.
    ///
    /// # Errors
    /// [`Error::SnapshotRequired`] when `at_ms` is before the retained log.
    pub fn inventory_at(
        &self,
        at_ms: i64,
        filter: &Filter,
        f: impl FnMut(ConfigurationItem) -> bool,
    ) -> Result<u64> {
        let w = self.seq_at_time(at_ms)?;
        self.inventory_at_seq(w, filter, f)
    }

    /// As [`Log::inventory_at`], at a sequence: every resource live after item `w`, as of
    /// then (a recorder's snapshot for an aggregator is the inventory at a sequence).
    ///
    /// # Errors
    /// [`Error::SnapshotRequired`] when `w` is before the retained log.
    pub fn inventory_at_seq(
        &self,
        w: Seq,
        filter: &Filter,
        f: impl FnMut(ConfigurationItem) -> bool,
    ) -> Result<u64> {
        let oldest = self.oldest();
        if oldest > 1 && w < self.inventory_floor() {
            return Err(Error::SnapshotRequired {
                requested: w,
                oldest,
            });
        }
        if w == 0 {
            return Ok(0);
        }
        let now: Option<Vec<Seq>> = {
            // Now: the in-memory state knows every resource's head. The watermark is read
            // under the state lock, so the two agree (the writer publishes under it).
            let st = self.state();
            (w == self.watermark()).then(|| st.live_heads().map(|(_, s)| s).collect())
        };
        let wanted: Vec<Seq> = match now {
            Some(v) => v,
            None => {
                let mut heads: driftlog_model::IdMap<(Seq, bool)> = Default::default();
                'scan: for fr in self.frames_from(oldest, false)? {
                    let fr = fr?;
                    for i in 0..fr.len() {
                        let seq = fr.first_seq + i as u64;
                        if seq > w {
                            break 'scan;
                        }
                        let (id, status) = fr.id_status(i)?;
                        heads.insert(id, (seq, crate::frame::is_deletion_code(status)));
                    }
                }
                heads
                    .into_values()
                    .filter(|(_, d)| !d)
                    .map(|(s, _)| s)
                    .collect()
            }
        };
        self.items_at_seqs(wanted, filter, f)
    }

    /// The live resources' heads now, with the sequence they are the inventory at: read
    /// together under the state lock, so a commit in between cannot make them disagree (a
    /// recorder's snapshot for an aggregator; pass them to [`Log::items_at_seqs`]).
    pub fn heads_now(&self) -> (Seq, Vec<Seq>) {
        let st = self.state();
        let w = self.watermark();
        (w, st.live_heads().map(|(_, s)| s).collect())
    }

    /// Passes the items at `wanted` (any order) that match `filter`, in log order, reading
    /// each frame once. `f` returns false to stop; returns how many items were passed.
    ///
    /// # Errors
    /// A frame cannot be read (or was dropped by retention).
    pub fn items_at_seqs(
        &self,
        mut wanted: Vec<Seq>,
        filter: &Filter,
        mut f: impl FnMut(ConfigurationItem) -> bool,
    ) -> Result<u64> {
        wanted.sort_unstable();
        let mut n = 0;
        let mut idx = 0;
        while idx < wanted.len() {
            let fr = self.frame_at(wanted[idx])?;
            while idx < wanted.len() && wanted[idx] <= fr.last_seq() {
                let i = (wanted[idx] - fr.first_seq) as usize;
                let e = fr.entry(i)?;
                idx += 1;
                if !filter.matches_parts(
                    &e.account,
                    &e.region,
                    &e.resource_type,
                    &e.resource_id,
                    e.status(),
                ) {
                    continue;
                }
                n += 1;
                if !f(fr.item_of(i, &e)?) {
                    return Ok(n);
                }
            }
        }
        Ok(n)
    }
}
