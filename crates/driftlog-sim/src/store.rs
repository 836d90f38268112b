//! Where the estate's resources live: one ordered map per scope, holding only each
//! resource's id and its [`Observed`] (canonical bytes).
//!
//! Scopes sort by (account, region, type) and ids inside them, which is exactly the order
//! of [`ResourceKey`], so iterating scope by scope yields resources in key order, and a
//! scope's snapshot is one inner map.

use crate::ids;
use driftlog_model::{Observed, ResourceKey, Scope};
use fastrand::Rng;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Scopes at most this large are sampled by position; larger ones by seeking a random id.
const SMALL_SCOPE: usize = 32;

/// Re-allocates `obs.doc` at its exact size. Canonicalization writes into a growing
/// buffer whose spare capacity `Bytes` would keep for the resource's whole life (up to
/// twice the document); at a million resources that is gigabytes.
pub(crate) fn compact(mut obs: Observed) -> Observed {
    obs.doc = bytes::Bytes::copy_from_slice(&obs.doc);
    if obs.volatile.len() > 2 {
        obs.volatile = bytes::Bytes::copy_from_slice(&obs.volatile);
    }
    obs
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    scopes: BTreeMap<Scope, BTreeMap<String, Observed>>,
    len: usize,
}

impl Store {
    /// Makes `scope` known (listed by [`Store::scopes`]) even while empty.
    pub(crate) fn declare(&mut self, scope: Scope) {
        self.scopes.entry(scope).or_default();
    }

    /// Fills a declared or new scope from resources sorted or not; later duplicates win.
    /// Documents must already be [`compact`].
    pub(crate) fn fill(&mut self, scope: Scope, items: Vec<Observed>) {
        let map = self.scopes.entry(scope).or_default();
        let before = map.len();
        let pairs = items.into_iter().map(|o| (o.key.resource_id.clone(), o));
        if map.is_empty() {
            // Sorts once and builds the tree bottom-up, instead of a million inserts.
            *map = pairs.collect();
        } else {
            map.extend(pairs);
        }
        self.len += map.len() - before;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn scopes(&self) -> impl Iterator<Item = (&Scope, usize)> {
        self.scopes.iter().map(|(s, m)| (s, m.len()))
    }

    pub(crate) fn scope(&self, scope: &Scope) -> impl Iterator<Item = &Observed> {
        self.scopes.get(scope).into_iter().flat_map(|m| m.values())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Observed> {
        self.scopes.values().flat_map(|m| m.values())
    }

    pub(crate) fn get(&self, key: &ResourceKey) -> Option<&Observed> {
        self.scopes.get(&key.scope())?.get(&key.resource_id)
    }

    /// Stores `obs`, returning what it replaced.
    pub(crate) fn put(&mut self, obs: Observed) -> Option<Observed> {
        let obs = compact(obs);
        let map = self.scopes.entry(obs.key.scope()).or_default();
        let old = map.insert(obs.key.resource_id.clone(), obs);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`, returning what was there.
    pub(crate) fn take(&mut self, key: &ResourceKey) -> Option<Observed> {
        let old = self.scopes.get_mut(&key.scope())?.remove(&key.resource_id);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// A random resource of `scope`. Large scopes seek the first id at or after a random
    /// id of the type's shape, which is O(log n) and close to uniform because ids are
    /// drawn from that same distribution.
    pub(crate) fn pick(&self, scope: &Scope, rng: &mut Rng) -> Option<&Observed> {
        let map = self.scopes.get(scope)?;
        if map.is_empty() {
            return None;
        }
        let probe = if map.len() > SMALL_SCOPE {
            ids::probe(&scope.resource_type, rng)
        } else {
            None
        };
        match probe {
            Some(p) => map
                .range::<str, _>((Bound::Included(p.as_str()), Bound::Unbounded))
                .next()
                .or_else(|| map.iter().next())
                .map(|(_, o)| o),
            None => map.values().nth(rng.usize(..map.len())),
        }
    }

    /// A random resource among the scopes accepted by `filter`, weighted by their sizes.
    pub(crate) fn pick_where(
        &self,
        rng: &mut Rng,
        filter: impl Fn(&Scope) -> bool,
    ) -> Option<&Observed> {
        let sizes: Vec<(&Scope, usize)> = self
            .scopes
            .iter()
            .filter(|(s, m)| !m.is_empty() && filter(s))
            .map(|(s, m)| (s, m.len()))
            .collect();
        let total: usize = sizes.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let mut r = rng.usize(..total);
        for (scope, n) in sizes {
            if r < n {
                return self.pick(scope, rng);
            }
            r -= n;
        }
        None
    }
}
