//! The reverse relationship index: "which resources point at this one, at time T".
//!
//! AWS Config stopped recording indirect relationships (a CI on the security group for
//! every instance that uses it) because they made most of the noise. We record only direct
//! edges in items and answer the other direction from this derived index, keyed
//! `target(16) ++ source(16) ++ name(8) ++ seq(8)` with an "edge present / removed" event
//! per key, so the state of every edge at any sequence is one prefix scan.

use crate::error::storage;
use crate::{Log, Result};
use driftlog_model::{Relationship, ResourceKey, Seq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// One resource that points at the asked-for target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// The resource holding the edge.
    pub source: ResourceKey,
    /// AWS Config's relationship name, as seen from the source.
    pub relationship: String,
    /// The item that added the edge.
    pub since_seq: Seq,
}

/// The edge being grouped while scanning: its key prefix and latest event at or below the
/// asked-for sequence.
type EdgeGroup = Option<(Vec<u8>, Option<(Seq, RevV1)>)>;

#[derive(Serialize, Deserialize)]
struct RevV1 {
    present: bool,
    name: String,
    account: String,
    region: String,
    resource_type: String,
    resource_id: String,
}

#[derive(Deserialize)]
struct Edges {
    #[serde(default)]
    relationships: Vec<Relationship>,
}

fn edges(doc: Option<&[u8]>) -> BTreeSet<(String, String, String)> {
    doc.and_then(|d| serde_json::from_slice::<Edges>(d).ok())
        .map(|e| {
            e.relationships
                .into_iter()
                .map(|r| (r.resource_type, r.resource_id, r.name))
                .collect()
        })
        .unwrap_or_default()
}

fn target_prefix(resource_type: &str, resource_id: &str) -> [u8; 16] {
    let mut b = Vec::with_capacity(resource_type.len() + resource_id.len() + 1);
    b.extend_from_slice(resource_type.as_bytes());
    b.push(0);
    b.extend_from_slice(resource_id.as_bytes());
    xxh3_128(&b).to_be_bytes()
}

/// Adds the edge events of one item (edges gained and lost against the previous item).
pub(crate) fn index_change(
    batch: &mut sled::Batch,
    key: &ResourceKey,
    id: u128,
    seq: Seq,
    prev_doc: Option<&[u8]>,
    doc: &[u8],
) {
    let before = edges(prev_doc);
    let after = edges(Some(doc));
    for (present, set, other) in [(true, &after, &before), (false, &before, &after)] {
        for (ty, target, name) in set.difference(other) {
            let mut k = Vec::with_capacity(48);
            k.extend_from_slice(&target_prefix(ty, target));
            k.extend_from_slice(&id.to_be_bytes());
            k.extend_from_slice(&xxh3_64(name.as_bytes()).to_be_bytes());
            k.extend_from_slice(&seq.to_be_bytes());
            let v = RevV1 {
                present,
                name: name.clone(),
                account: key.account.clone(),
                region: key.region.clone(),
                resource_type: key.resource_type.clone(),
                resource_id: key.resource_id.clone(),
            };
            if let Ok(v) = bincode::serialize(&v) {
                batch.insert(k, v);
            }
        }
    }
}

impl Log {
    /// The resources whose recorded items had an edge to `(resource_type, resource_id)` as
    /// of sequence `at` (default: now), e.g. the instances associated with a security group.
    ///
    /// # Errors
    /// [`crate::Error::Storage`] when sled fails.
    pub fn related_to(
        &self,
        resource_type: &str,
        resource_id: &str,
        at: Option<Seq>,
    ) -> Result<Vec<Related>> {
        let w = at.unwrap_or(u64::MAX).min(self.watermark());
        let mut out = Vec::new();
        let mut group: EdgeGroup = None;
        let flush = |g: EdgeGroup, out: &mut Vec<Related>| {
            if let Some((_, Some((seq, v)))) = g {
                if v.present {
                    out.push(Related {
                        source: ResourceKey::new(
                            v.account,
                            v.region,
                            v.resource_type,
                            v.resource_id,
                        ),
                        relationship: v.name,
                        since_seq: seq,
                    });
                }
            }
        };
        for kv in self
            .rev
            .scan_prefix(target_prefix(resource_type, resource_id))
        {
            let (k, v) = kv.map_err(storage("scan reverse index"))?;
            if k.len() != 48 {
                continue;
            }
            let seq = crate::u64_of(&k[40..48]);
            let edge = k[..40].to_vec();
            if group.as_ref().is_none_or(|(g, _)| *g != edge) {
                flush(group.take(), &mut out);
                group = Some((edge, None));
            }
            if seq <= w {
                if let (Some((_, last)), Ok(v)) =
                    (group.as_mut(), bincode::deserialize::<RevV1>(&v))
                {
                    *last = Some((seq, v));
                }
            }
        }
        flush(group, &mut out);
        out.sort_by(|a, b| {
            a.source
                .cmp(&b.source)
                .then(a.relationship.cmp(&b.relationship))
        });
        Ok(out)
    }
}
