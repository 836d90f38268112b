use crate::key::{ResourceKey, Scope};
use crate::Seq;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Hasher for keys that already are xxh3 hashes ([`ResourceKey::id_hash`]): folding the
/// 128 bits is enough, and SipHash over a million ids per poll is measurable.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 keys; keep it correct, if not fast.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
            self.0 = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by id hashes.
pub type IdMap<V> = HashMap<u128, V, BuildHasherDefault<IdHasher>>;
/// A set of id hashes.
pub type IdSet = HashSet<u128, BuildHasherDefault<IdHasher>>;

/// What the recorder remembers of one resource between polls: enough to decide "unchanged"
/// by hash, to number the next version and to find the last recorded document in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceState {
    /// Sequence of the latest item of this resource.
    pub seq: Seq,
    /// Its per-resource version.
    pub version: u64,
    /// xxh3-128 of its canonical document (volatile values excluded).
    pub doc_hash: u128,
    /// xxh3-64 of its volatile values as last seen (not only as last recorded), so that a
    /// ticking field is counted once per tick.
    pub volatile_hash: u64,
    /// True when the latest item is a deletion.
    pub deleted: bool,
}

#[derive(Debug, Clone)]
struct Members {
    scope: Scope,
    live: IdMap<String>,
    gone: IdMap<String>,
}

/// The latest state of every resource ever recorded, in memory.
///
/// It is derived from the log (replayed on open) and never written on its own: the log is
/// the truth. Keyed by [`ResourceKey::id_hash`]; the live members of every scope are kept
/// so a complete snapshot can find what disappeared without scanning everything.
#[derive(Debug, Default, Clone)]
pub struct CurrentState {
    /// Per resource: its state and the hash of its scope (to name it without the log).
    resources: IdMap<(ResourceState, u128)>,
    scopes: IdMap<Members>,
}

impl CurrentState {
    /// An empty state (a new store).
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of one resource.
    pub fn get(&self, id: u128) -> Option<&ResourceState> {
        self.resources.get(&id).map(|(s, _)| s)
    }

    /// The key of a recorded resource, from memory alone.
    pub fn key_of(&self, id: u128) -> Option<ResourceKey> {
        let (st, scope) = self.resources.get(&id)?;
        let m = self.scopes.get(scope)?;
        let rid = if st.deleted {
            m.gone.get(&id)
        } else {
            m.live.get(&id)
        }?;
        Some(ResourceKey {
            account: m.scope.account.clone(),
            region: m.scope.region.clone(),
            resource_type: m.scope.resource_type.clone(),
            resource_id: rid.clone(),
        })
    }

    /// The scope of a recorded resource.
    pub fn scope_of(&self, id: u128) -> Option<&Scope> {
        let (_, scope) = self.resources.get(&id)?;
        self.scopes.get(scope).map(|m| &m.scope)
    }

    /// Records that `key` now has `state` (after an item was appended for it).
    pub fn apply(&mut self, key: &ResourceKey, id: u128, state: ResourceState) {
        let scope_hash = Scope::hash_parts(&key.account, &key.region, &key.resource_type);
        self.resources.insert(id, (state, scope_hash));
        let m = self.scopes.entry(scope_hash).or_insert_with(|| Members {
            scope: key.scope(),
            live: IdMap::default(),
            gone: IdMap::default(),
        });
        let (from, to) = if state.deleted {
            (&mut m.live, &mut m.gone)
        } else {
            (&mut m.gone, &mut m.live)
        };
        match from.remove(&id) {
            Some(rid) => {
                to.insert(id, rid);
            }
            None => {
                to.entry(id).or_insert_with(|| key.resource_id.clone());
            }
        }
    }

    /// Notes a new volatile hash without a new version.
    pub fn set_volatile_hash(&mut self, id: u128, hash: u64) {
        if let Some((s, _)) = self.resources.get_mut(&id) {
            s.volatile_hash = hash;
        }
    }

    /// Live resources of a scope: id hash → resource id.
    pub fn live_in(&self, scope: &Scope) -> Option<&IdMap<String>> {
        self.scopes.get(&scope.hash()).map(|m| &m.live)
    }

    /// Deleted resources of a scope: id hash → resource id.
    pub fn gone_in(&self, scope: &Scope) -> Option<&IdMap<String>> {
        self.scopes.get(&scope.hash()).map(|m| &m.gone)
    }

    /// Every scope ever recorded with its live and deleted resource counts, for listings
    /// and counts by type without touching the log.
    pub fn scopes(&self) -> impl Iterator<Item = (&Scope, usize, usize)> + '_ {
        self.scopes
            .values()
            .map(|m| (&m.scope, m.live.len(), m.gone.len()))
    }

    /// Number of resources ever recorded (deleted ones included).
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// True for a new store.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Number of live resources.
    pub fn live_count(&self) -> usize {
        self.scopes.values().map(|m| m.live.len()).sum()
    }

    /// Every resource key ever recorded (deleted ones too), for queries that resolve a
    /// user's `TYPE/ID`.
    pub fn keys(&self) -> impl Iterator<Item = ResourceKey> + '_ {
        self.scopes.values().flat_map(|m| {
            m.live
                .values()
                .chain(m.gone.values())
                .map(move |id| ResourceKey {
                    account: m.scope.account.clone(),
                    region: m.scope.region.clone(),
                    resource_type: m.scope.resource_type.clone(),
                    resource_id: id.clone(),
                })
        })
    }

    /// `(id, seq)` of every live resource, without building keys (inventory "now").
    pub fn live_heads(&self) -> impl Iterator<Item = (u128, Seq)> + '_ {
        self.scopes
            .values()
            .flat_map(|m| m.live.keys())
            .filter_map(|id| self.resources.get(id).map(|(s, _)| (*id, s.seq)))
    }
}
