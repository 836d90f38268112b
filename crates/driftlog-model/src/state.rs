use crate::key::{ResourceKey, Scope};
use crate::Seq;
use std::collections::HashMap;

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

/// The latest state of every resource ever recorded, in memory.
///
/// It is derived from the log (replayed on open) and never written on its own: the log is
/// the truth. Keyed by [`ResourceKey::id_hash`]; the live members of every scope are kept
/// so a complete snapshot can find what disappeared without scanning everything.
#[derive(Debug, Default, Clone)]
pub struct CurrentState {
    resources: HashMap<u128, ResourceState>,
    live: HashMap<Scope, HashMap<u128, String>>,
    gone: HashMap<Scope, HashMap<u128, String>>,
}

impl CurrentState {
    /// An empty state (a new store).
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of one resource.
    pub fn get(&self, id: u128) -> Option<&ResourceState> {
        self.resources.get(&id)
    }

    /// Records that `key` now has `state` (after an item was appended for it).
    pub fn apply(&mut self, key: &ResourceKey, id: u128, state: ResourceState) {
        self.resources.insert(id, state);
        let (from, to) = if state.deleted {
            (&mut self.live, &mut self.gone)
        } else {
            (&mut self.gone, &mut self.live)
        };
        let scope = key.scope();
        if let Some(m) = from.get_mut(&scope) {
            m.remove(&id);
        }
        to.entry(scope)
            .or_default()
            .insert(id, key.resource_id.clone());
    }

    /// Notes a new volatile hash without a new version.
    pub fn set_volatile_hash(&mut self, id: u128, hash: u64) {
        if let Some(s) = self.resources.get_mut(&id) {
            s.volatile_hash = hash;
        }
    }

    /// Live resources of a scope: id hash → resource id.
    pub fn live_in(&self, scope: &Scope) -> Option<&HashMap<u128, String>> {
        self.live.get(scope)
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
        self.live.values().map(HashMap::len).sum()
    }

    /// Every resource key ever recorded (deleted ones too), for queries that resolve a
    /// user's `TYPE/ID`.
    pub fn keys(&self) -> impl Iterator<Item = ResourceKey> + '_ {
        self.live
            .iter()
            .chain(self.gone.iter())
            .flat_map(|(scope, m)| {
                m.values().map(move |id| ResourceKey {
                    account: scope.account.clone(),
                    region: scope.region.clone(),
                    resource_type: scope.resource_type.clone(),
                    resource_id: id.clone(),
                })
            })
    }
}
