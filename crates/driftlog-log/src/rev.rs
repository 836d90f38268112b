//! The reverse relationship index: "which resources point at this one, at time T".
//!
//! AWS Config stopped recording indirect relationships (a CI on the security group for
//! every instance that uses it) because they made most of the noise. We record only direct
//! edges in items and answer the other direction from this derived index.
//!
//! Every frame-table [`crate::frame::Entry`] lists the hashes of the targets its item
//! points at, so the index rebuilds from the tables alone (no document is parsed on open).
//! In memory it maps each target to every resource that ever pointed at it; a query checks
//! each candidate's item as of the asked-for sequence, so the answer is exact at any time.
//! This replaced per-edge sled keys, whose random inserts cost 5 s per 100K resources at
//! first discovery (measured).

use crate::{Log, Result};
use driftlog_model::{IdMap, IdSet, Relationship, ResourceKey, Seq};
use serde::Deserialize;
use std::borrow::Cow;
use xxhash_rust::xxh3::Xxh3;

/// One resource that points at the asked-for target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// The resource holding the edge.
    pub source: ResourceKey,
    /// AWS Config's relationship name, as seen from the source.
    pub relationship: String,
    /// The source's item (as of the asked-for time) that holds the edge.
    pub since_seq: Seq,
}

/// Target hash → ids of every resource that ever pointed at it.
#[derive(Debug, Default)]
pub(crate) struct RevIndex {
    by_target: IdMap<IdSet>,
}

impl RevIndex {
    pub(crate) fn add(&mut self, source: u128, targets: &[u128]) {
        for t in targets {
            self.by_target.entry(*t).or_default().insert(source);
        }
    }
}

/// Hash of an edge target: type and id (relationships do not name account or region).
pub(crate) fn target_hash(resource_type: &str, resource_id: &str) -> u128 {
    let mut h = Xxh3::new();
    h.update(resource_type.as_bytes());
    h.update(&[0]);
    h.update(resource_id.as_bytes());
    h.digest128()
}

#[derive(Deserialize)]
struct EdgesRef<'a> {
    #[serde(borrow, default)]
    relationships: Vec<EdgeRef<'a>>,
}

#[derive(Deserialize)]
struct EdgeRef<'a> {
    #[serde(borrow, rename = "resourceType")]
    resource_type: Cow<'a, str>,
    /// Null (or empty) for an edge AWS Config names by `resourceName` only (Lambda's role,
    /// an Aurora cluster's instances): it has no id to be found by, and must not make the
    /// item's other edges unreadable.
    #[serde(rename = "resourceId", default)]
    resource_id: Option<Cow<'a, str>>,
}

/// The target hashes of a stored document's relationships (borrowed parse: no allocation
/// per edge beyond the result).
pub(crate) fn edge_targets(doc: &[u8]) -> Vec<u128> {
    match serde_json::from_slice::<EdgesRef<'_>>(doc) {
        Ok(e) => {
            let mut v: Vec<u128> = e
                .relationships
                .iter()
                .filter_map(|r| {
                    let id = r.resource_id.as_deref().filter(|id| !id.is_empty())?;
                    Some(target_hash(&r.resource_type, id))
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        Err(_) => Vec::new(),
    }
}

#[derive(Deserialize)]
struct Edges {
    #[serde(default)]
    relationships: Vec<Relationship>,
}

impl Log {
    /// Ids of every resource that ever pointed at the target.
    fn candidates(&self, resource_type: &str, resource_id: &str) -> Vec<u128> {
        self.rev
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_target
            .get(&target_hash(resource_type, resource_id))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every resource that ever pointed at `(resource_type, resource_id)`, without checking
    /// that it still does: the cheap candidate list for re-describing neighbours of a
    /// changed resource (a re-describe finds out for itself). Answered from memory.
    pub fn pointing_at(&self, resource_type: &str, resource_id: &str) -> Vec<ResourceKey> {
        let candidates = self.candidates(resource_type, resource_id);
        let st = self.state();
        candidates
            .into_iter()
            .filter(|id| st.get(*id).is_some_and(|s| !s.deleted))
            .filter_map(|id| st.key_of(id))
            .collect()
    }

    /// The resources whose items had an edge to `(resource_type, resource_id)` as of
    /// sequence `at` (default: now), e.g. the instances associated with a security group.
    ///
    /// # Errors
    /// [`crate::Error::Storage`] or [`crate::Error::Corrupt`] when an item cannot be read.
    pub fn related_to(
        &self,
        resource_type: &str,
        resource_id: &str,
        at: Option<Seq>,
    ) -> Result<Vec<Related>> {
        let w = at.unwrap_or(u64::MAX).min(self.watermark());
        let candidates = self.candidates(resource_type, resource_id);
        let mut out = Vec::new();
        for source in candidates {
            let Some(head) = self.state().get(source).map(|s| s.seq) else {
                continue;
            };
            let Some(seq) = self.head_at_or_below(head, w)? else {
                continue;
            };
            if seq < self.oldest() {
                continue;
            }
            let item = self.item(seq)?;
            if item.status.is_deletion() {
                continue;
            }
            let edges: Edges = serde_json::from_slice(&item.doc).unwrap_or(Edges {
                relationships: Vec::new(),
            });
            for r in edges.relationships {
                if r.resource_type == resource_type && r.resource_id == resource_id {
                    out.push(Related {
                        source: item.key.clone(),
                        relationship: r.name,
                        since_seq: seq,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            a.source
                .cmp(&b.source)
                .then(a.relationship.cmp(&b.relationship))
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An edge named only by resourceName (null id, as AWS Config records Lambda's role)
    /// leaves the item's other edges indexed.
    #[test]
    fn edges_without_an_id_keep_the_others() {
        let doc = br#"{"relationships": [
            {"name": "Is associated with ", "resourceId": null, "resourceName": "worker-role", "resourceType": "AWS::IAM::Role"},
            {"name": "Is associated with ", "resourceId": "", "resourceName": "db-1", "resourceType": "AWS::RDS::DBInstance"},
            {"name": "Is associated with ", "resourceId": "sg-1", "resourceName": null, "resourceType": "AWS::EC2::SecurityGroup"}
        ]}"#;
        assert_eq!(
            edge_targets(doc),
            vec![target_hash("AWS::EC2::SecurityGroup", "sg-1")]
        );
    }
}
