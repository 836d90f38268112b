use crate::structural;
use bytes::Bytes;
use driftlog_model::canonical::hash128;
use driftlog_model::canonical::volatile_hash as xxh3_64;
use driftlog_model::{
    spec_for, Change, CompleteSnapshot, CurrentState, IdSet, Observed, PartialSnapshot,
    ResourceKey, Seq, Status,
};
use serde_json::{json, Value};

/// Counters of one diff run, reported in the recorder status and by `bench`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Resources in the snapshot.
    pub seen: u64,
    /// Same hash as recorded: nothing written.
    pub unchanged: u64,
    /// Only declared volatile fields changed: counted, nothing written.
    pub volatile_only: u64,
    /// New resources.
    pub discovered: u64,
    /// Changed resources.
    pub updated: u64,
    /// Resources gone from a complete snapshot.
    pub deleted: u64,
    /// Resources skipped because the log already holds a newer observation of them than
    /// this poll (which started before it was recorded).
    pub stale: u64,
    /// Changes of DAILY-recorded types held back: their resource already has an item from
    /// the last 24 hours (set by the recorder, not the diff).
    pub daily_held: u64,
}

impl DiffStats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &DiffStats) {
        self.seen += o.seen;
        self.unchanged += o.unchanged;
        self.volatile_only += o.volatile_only;
        self.discovered += o.discovered;
        self.updated += o.updated;
        self.deleted += o.deleted;
        self.stale += o.stale;
        self.daily_held += o.daily_held;
    }
}

/// The result of one diff run.
#[derive(Debug, Default)]
pub struct Diffed {
    /// Items to append, in snapshot order, deletions last.
    pub changes: Vec<Change>,
    /// Resources whose volatile fields ticked: `(id, new volatile hash)`, to note in the state.
    pub volatile_ticks: Vec<(u128, u64)>,
    /// Counters.
    pub stats: DiffStats,
}

/// Snapshots at least this large are diffed on several threads.
const PARALLEL_FROM: usize = 16_384;

/// Diffs `resources` against `state`, split over the machine's cores when there are many;
/// returns the merged result (in input order) and how many were live before.
fn observe_all<E: Send>(
    state: &CurrentState,
    resources: &[Observed],
    as_of: Seq,
    load_doc: &(impl Fn(Seq) -> Result<Bytes, E> + Sync),
) -> Result<(Diffed, usize), E> {
    let threads = if resources.len() >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    } else {
        1
    };
    let run = |chunk: &[Observed]| -> Result<(Diffed, usize), E> {
        let mut out = Diffed::default();
        let mut live = 0;
        for o in chunk {
            if observe(state, o, as_of, load_doc, &mut out)? {
                live += 1;
            }
        }
        Ok((out, live))
    };
    if threads == 1 {
        return run(resources);
    }
    let size = resources.len().div_ceil(threads);
    let parts: Vec<Result<(Diffed, usize), E>> = std::thread::scope(|s| {
        let handles: Vec<_> = resources
            .chunks(size)
            .map(|c| s.spawn(move || run(c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Diffed::default();
    let mut live = 0;
    for p in parts {
        let (d, l) = p?;
        out.changes.extend(d.changes);
        out.volatile_ticks.extend(d.volatile_ticks);
        out.stats.add(&d.stats);
        live += l;
    }
    Ok((out, live))
}

/// Diffs a complete snapshot of one scope: creates, updates and, because the snapshot is
/// complete, deletions of live resources of that scope that it no longer contains.
///
/// `load_doc(seq)` returns the canonical document recorded at `seq`; it is called only for
/// resources whose hash changed (and for deletions), never for unchanged ones. Large
/// snapshots are diffed on several threads, so it must be callable from them.
///
/// `as_of` is the log position when the poll started: a resource recorded after it (by a
/// targeted refresh, say) is newer than this snapshot, so it is neither updated back nor
/// deleted (counted as `stale`).
///
/// # Errors
/// Whatever `load_doc` returns.
pub fn diff_complete<E: Send>(
    state: &CurrentState,
    snap: &CompleteSnapshot,
    as_of: Seq,
    load_doc: impl Fn(Seq) -> Result<Bytes, E> + Sync,
) -> Result<Diffed, E> {
    let (mut out, matched_live) = observe_all(state, snap.resources(), as_of, &load_doc)?;
    let live = state.live_in(snap.scope());
    let live_count = live.map_or(0, |m| m.len());
    if matched_live < live_count {
        // Only now pay for a set of what the snapshot holds.
        let seen: IdSet = snap.resources().iter().map(|o| o.id).collect();
        let mut gone: Vec<(&u128, &String)> = live
            .into_iter()
            .flatten()
            .filter(|(id, _)| !seen.contains(id))
            .collect();
        gone.sort_by(|a, b| a.1.cmp(b.1));
        for (id, resource_id) in gone {
            let Some(prev) = state.get(*id) else { continue };
            if prev.seq > as_of {
                // Recorded after this poll began: the snapshot cannot speak for it.
                out.stats.stale += 1;
                continue;
            }
            let scope = snap.scope();
            let key = ResourceKey::new(
                &scope.account,
                &scope.region,
                &scope.resource_type,
                resource_id,
            );
            let prev_doc = load_doc(prev.seq)?;
            out.changes.push(deletion(key, *id, prev, &prev_doc));
            out.stats.deleted += 1;
        }
    }
    Ok(out)
}

/// Diffs resources seen without a claim of completeness (a targeted refresh, re-checks of
/// related resources, what a failed poll got before failing). It never deletes.
///
/// # Errors
/// Whatever `load_doc` returns.
pub fn diff_partial<E: Send>(
    state: &CurrentState,
    snap: &PartialSnapshot,
    as_of: Seq,
    load_doc: impl Fn(Seq) -> Result<Bytes, E> + Sync,
) -> Result<Diffed, E> {
    Ok(observe_all(state, &snap.resources, as_of, &load_doc)?.0)
}

/// Records the deletion of the live resources among `keys` — for derived items (compliance
/// results) whose producer knows for certain that they ended, and for resources a delete
/// event named whose targeted describe looked them up without error and did not find them.
/// Never for what a poll merely did not list: only a complete snapshot may show that. Keys
/// not live, or recorded after `as_of`, are left alone.
///
/// # Errors
/// Whatever `load_doc` returns.
pub fn diff_removed<E>(
    state: &CurrentState,
    keys: &[ResourceKey],
    as_of: Seq,
    load_doc: impl Fn(Seq) -> Result<Bytes, E>,
) -> Result<Diffed, E> {
    let mut out = Diffed::default();
    for key in keys {
        let id = key.id_hash();
        let Some(prev) = state.get(id) else { continue };
        if prev.deleted {
            continue;
        }
        if prev.seq > as_of {
            out.stats.stale += 1;
            continue;
        }
        let prev_doc = load_doc(prev.seq)?;
        out.changes.push(deletion(key.clone(), id, prev, &prev_doc));
        out.stats.deleted += 1;
    }
    Ok(out)
}

/// Compares one observed resource with its state; returns true when it was live before.
fn observe<E>(
    state: &CurrentState,
    o: &Observed,
    as_of: Seq,
    load_doc: &impl Fn(Seq) -> Result<Bytes, E>,
    out: &mut Diffed,
) -> Result<bool, E> {
    out.stats.seen += 1;
    let id = o.id;
    let prev = state.get(id);
    if let Some(p) = prev.filter(|p| p.seq > as_of) {
        out.stats.stale += 1;
        return Ok(!p.deleted);
    }
    let doc_hash = hash128(&o.doc);
    match prev {
        Some(p) if !p.deleted && p.doc_hash == doc_hash => {
            let vh = xxh3_64(&o.volatile);
            if vh == p.volatile_hash {
                out.stats.unchanged += 1;
            } else {
                out.stats.volatile_only += 1;
                out.volatile_ticks.push((id, vh));
            }
            Ok(true)
        }
        Some(p) if !p.deleted => {
            let prev_doc = load_doc(p.seq)?;
            let spec = spec_for(&o.key.resource_type);
            let a: Value = serde_json::from_slice(&prev_doc).unwrap_or(Value::Null);
            let b: Value = serde_json::from_slice(&o.doc).unwrap_or(Value::Null);
            let changes = structural::diff(spec, &a, &b);
            out.changes.push(Change {
                key: (*o.key).clone(),
                id,
                status: Status::Ok,
                version: p.version + 1,
                prev_seq: Some(p.seq),
                doc: o.doc.clone(),
                volatile: o.volatile.clone(),
                diff: Bytes::from(serde_json::to_vec(&changes).unwrap_or_else(|_| b"[]".to_vec())),
                doc_hash,
                volatile_hash: xxh3_64(&o.volatile),
                attribution: Vec::new(),
            });
            out.stats.updated += 1;
            Ok(true)
        }
        _ => {
            out.changes.push(Change {
                key: (*o.key).clone(),
                id,
                status: Status::ResourceDiscovered,
                version: prev.map_or(1, |p| p.version + 1),
                prev_seq: prev.map(|p| p.seq),
                doc: o.doc.clone(),
                volatile: o.volatile.clone(),
                diff: Bytes::from_static(b"[]"),
                doc_hash,
                volatile_hash: xxh3_64(&o.volatile),
                attribution: Vec::new(),
            });
            out.stats.discovered += 1;
            Ok(false)
        }
    }
}

/// The item that records a deletion: identity fields kept, configuration gone, no edges,
/// and a diff that lists what disappeared (AWS: `Configuration`, `Relationships.N`).
fn deletion(
    key: ResourceKey,
    id: u128,
    prev: &driftlog_model::ResourceState,
    prev_doc: &[u8],
) -> Change {
    let spec = spec_for(&key.resource_type);
    let a: Value = serde_json::from_slice(prev_doc).unwrap_or(Value::Null);
    let keep = |k: &str| a.get(k).cloned().unwrap_or(Value::Null);
    let b = json!({
        "arn": keep("arn"),
        "resourceName": keep("resourceName"),
        "availabilityZone": keep("availabilityZone"),
        "resourceCreationTime": keep("resourceCreationTime"),
        "tags": {},
        "relationships": [],
        "supplementaryConfiguration": {},
    });
    let changes = structural::diff(spec, &a, &b);
    let doc = Bytes::from(driftlog_model::canonical::to_canonical_vec(&b));
    Change {
        key,
        id,
        status: Status::ResourceDeleted,
        version: prev.version + 1,
        prev_seq: Some(prev.seq),
        doc_hash: hash128(&doc),
        doc,
        volatile: driftlog_model::canonical::empty_object(),
        diff: Bytes::from(serde_json::to_vec(&changes).unwrap_or_else(|_| b"[]".to_vec())),
        volatile_hash: xxh3_64(b"{}"),
        attribution: Vec::new(),
    }
}
