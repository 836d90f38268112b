use crate::canonical::{canonicalize, Canonical};
use crate::item::Document;
use crate::key::{ResourceKey, Scope};
use crate::types::spec_for;
use bytes::Bytes;
use std::sync::Arc;

/// One resource as a poll saw it, in canonical form.
///
/// Holding `Bytes` (reference-counted) lets a source hand over an unchanged resource without
/// copying it, and lets the diff stage decide "unchanged" by hashing `doc` alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Which resource. Shared, so handing over an unchanged resource allocates nothing.
    pub key: Arc<ResourceKey>,
    /// [`ResourceKey::id_hash`] of `key`, computed once when the resource was observed.
    pub id: u128,
    /// [`Scope::hash`] of the key's scope, so a snapshot checks membership without
    /// comparing strings.
    pub scope_hash: u128,
    /// Canonical JSON of the [`Document`] without its volatile values.
    pub doc: Bytes,
    /// Canonical JSON object of the volatile values, `{}` when there are none.
    pub volatile: Bytes,
}

impl Observed {
    /// Canonicalizes `document` under the rules of the key's resource type.
    pub fn new(key: ResourceKey, document: &Document) -> Self {
        Self::from_value(key, document.to_value())
    }

    /// Canonicalizes an arbitrary JSON document (for sources that read JSON, like files).
    pub fn from_value(key: ResourceKey, value: serde_json::Value) -> Self {
        let Canonical { doc, volatile } = canonicalize(spec_for(&key.resource_type), value);
        Self::from_canonical(key, doc, volatile)
    }

    /// Wraps bytes that are already canonical (a source that keeps them, like the sim).
    pub fn from_canonical(key: ResourceKey, doc: Bytes, volatile: Bytes) -> Self {
        Self {
            id: key.id_hash(),
            scope_hash: Scope::hash_parts(&key.account, &key.region, &key.resource_type),
            key: Arc::new(key),
            doc,
            volatile,
        }
    }
}

/// Everything that exists in one [`Scope`], as one successful poll saw it.
///
/// Only a complete snapshot lets the diff stage infer that a resource was deleted, so it can
/// only be built by [`CompleteSnapshot::new`], which a source calls when its listing of the
/// scope finished without error. A failed or partial poll has no way to produce one.
#[derive(Debug, Clone)]
pub struct CompleteSnapshot {
    scope: Scope,
    resources: Vec<Observed>,
}

impl CompleteSnapshot {
    /// Declares `resources` to be everything in `scope`.
    ///
    /// Resources outside the scope, and second occurrences of one resource, are not kept;
    /// their keys are returned so the caller can report them (they are never recorded, and
    /// never cause a deletion elsewhere).
    pub fn new(scope: Scope, resources: Vec<Observed>) -> (Self, Vec<ResourceKey>) {
        let mut seen = crate::IdSet::with_capacity_and_hasher(resources.len(), Default::default());
        let mut kept = Vec::with_capacity(resources.len());
        let mut rejected = Vec::new();
        let scope_hash = scope.hash();
        for r in resources {
            if r.scope_hash == scope_hash && seen.insert(r.id) {
                kept.push(r);
            } else {
                rejected.push((*r.key).clone());
            }
        }
        (
            Self {
                scope,
                resources: kept,
            },
            rejected,
        )
    }

    /// The scope this snapshot covers completely.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The resources seen.
    pub fn resources(&self) -> &[Observed] {
        &self.resources
    }

    /// Takes the resources out, keeping the scope.
    pub fn into_parts(self) -> (Scope, Vec<Observed>) {
        (self.scope, self.resources)
    }
}

/// Some resources, with no claim that they are all there is: the result of a targeted
/// refresh, a re-check of related resources, or a poll that failed half-way. It can create
/// and update resources but never delete one.
#[derive(Debug, Clone, Default)]
pub struct PartialSnapshot {
    /// The resources seen.
    pub resources: Vec<Observed>,
}
