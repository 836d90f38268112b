//! Canonical JSON: the one byte form of a document that driftlog hashes, stores and diffs.
//!
//! Canonical means: object keys sorted, no insignificant whitespace, set-like arrays sorted
//! by the canonical bytes of their elements, and volatile values moved out of the document
//! into a side object keyed by their concrete dotted path. Two documents that differ only
//! by key order, set order or volatile values have the same canonical `doc` bytes, so the
//! diff stage can decide "unchanged" by comparing a 128-bit hash, without parsing.

use crate::types::TypeSpec;
use bytes::Bytes;
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_128;

/// A document in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// The document without its volatile values, canonical bytes.
    pub doc: Bytes,
    /// Canonical JSON object `{"<dotted path>": value}` of the volatile values; `{}` if none.
    pub volatile: Bytes,
}

/// The hash the diff stage compares: xxh3-128 of canonical bytes.
pub fn hash128(bytes: &[u8]) -> u128 {
    xxh3_128(bytes)
}

/// The hash of volatile values: xxh3-64 is plenty, since it only counts ticks.
pub fn volatile_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The canonical bytes of an empty object, shared so that resources without volatile
/// fields cost no allocation.
pub fn empty_object() -> Bytes {
    Bytes::from_static(b"{}")
}

#[derive(Clone, Copy)]
enum Kind {
    Set,
    Volatile,
}

/// Puts `value` in canonical form for resource type `spec`.
pub fn canonicalize(spec: &TypeSpec, mut value: Value) -> Canonical {
    let mut active: Vec<(Kind, &'static str)> = Vec::new();
    active.extend(
        crate::types::common_sets()
            .iter()
            .chain(spec.set_paths.iter())
            .map(|p| (Kind::Set, *p)),
    );
    active.extend(spec.volatile_paths.iter().map(|p| (Kind::Volatile, *p)));
    let mut volatile = Map::new();
    let mut path = String::new();
    normalize(&mut value, &active, &mut path, &mut volatile);
    let mut doc = Vec::with_capacity(1024);
    write_canonical(&value, &mut doc);
    let volatile = if volatile.is_empty() {
        empty_object()
    } else {
        let mut out = Vec::new();
        write_canonical(&Value::Object(volatile), &mut out);
        Bytes::from(out)
    };
    Canonical {
        doc: Bytes::from(doc),
        volatile,
    }
}

/// Advances the active patterns by one path segment; returns the patterns still active below
/// and whether one of them ends exactly here (and of which kind).
fn step(
    active: &[(Kind, &'static str)],
    seg: Seg<'_>,
) -> (Vec<(Kind, &'static str)>, Option<Kind>, bool) {
    let mut next = Vec::new();
    let mut here_set = false;
    let mut here_volatile = false;
    for &(kind, rest) in active {
        let (head, tail) = match rest.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (rest, None),
        };
        let hit = match seg {
            Seg::Key(k) => head == k,
            Seg::Index => head == "*",
        };
        if !hit {
            continue;
        }
        match (tail, kind) {
            (Some(t), _) => next.push((kind, t)),
            (None, Kind::Set) => here_set = true,
            (None, Kind::Volatile) => here_volatile = true,
        }
    }
    let here = if here_volatile {
        Some(Kind::Volatile)
    } else if here_set {
        Some(Kind::Set)
    } else {
        None
    };
    (next, here, here_set)
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index,
}

fn normalize(
    value: &mut Value,
    active: &[(Kind, &'static str)],
    path: &mut String,
    volatile: &mut Map<String, Value>,
) {
    match value {
        Value::Object(map) => {
            if active.is_empty() {
                for child in map.values_mut() {
                    normalize(child, &[], path, volatile);
                }
                return;
            }
            let mut taken: Vec<String> = Vec::new();
            for (k, child) in map.iter_mut() {
                let (next, here, is_set) = step(active, Seg::Key(k));
                if next.is_empty() && here.is_none() {
                    normalize(child, &[], path, volatile);
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if matches!(here, Some(Kind::Volatile)) {
                    taken.push(k.clone());
                } else {
                    normalize(child, &next, path, volatile);
                    if is_set {
                        sort_set(child);
                    }
                }
                path.truncate(len);
            }
            for k in taken {
                let mut full = path.clone();
                if !full.is_empty() {
                    full.push('.');
                }
                full.push_str(&k);
                if let Some(mut v) = map.remove(&k) {
                    normalize(&mut v, &[], path, volatile);
                    volatile.insert(full, v);
                }
            }
        }
        Value::Array(items) => {
            if active.is_empty() {
                for child in items.iter_mut() {
                    normalize(child, &[], path, volatile);
                }
                return;
            }
            let (next, _, _) = step(active, Seg::Index);
            for (i, child) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push('.');
                path.push_str(&i.to_string());
                normalize(child, &next, path, volatile);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Sorts a set-like array by the canonical bytes of its elements (already normalized).
fn sort_set(value: &mut Value) {
    if let Value::Array(items) = value {
        if items.len() < 2 {
            return;
        }
        let mut keyed: Vec<(Vec<u8>, Value)> = items
            .drain(..)
            .map(|v| {
                let mut b = Vec::new();
                write_canonical(&v, &mut b);
                (b, v)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        items.extend(keyed.into_iter().map(|(_, v)| v));
    }
}

/// Writes `value` as compact JSON with object keys in byte order.
///
/// It does not rely on serde_json's map being a `BTreeMap` (a dependency enabling
/// `preserve_order` would silently change the hash of every document).
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            let sorted = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| a.as_str() <= b.as_str());
            if sorted {
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    write_canonical(v, out);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is the reference; writing into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// Canonical bytes of any JSON value (no type-specific rules).
pub fn to_canonical_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

/// Puts volatile values back at their dotted paths, turning a stored document into the
/// configuration AWS Config would show. Paths that no longer exist are skipped.
pub fn merge_volatile(doc: &mut Value, volatile: &Map<String, Value>) {
    for (path, v) in volatile {
        let parts: Vec<&str> = path.split('.').collect();
        let Some((last, parents)) = parts.split_last() else {
            continue;
        };
        if let Some(Value::Object(m)) = walk_mut(doc, parents) {
            m.insert((*last).to_string(), v.clone());
        }
    }
}

fn walk_mut<'a>(cur: &'a mut Value, parts: &[&str]) -> Option<&'a mut Value> {
    let Some((first, rest)) = parts.split_first() else {
        return Some(cur);
    };
    let next = match cur {
        Value::Object(m) => m.get_mut(*first),
        Value::Array(a) => first.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    }?;
    walk_mut(next, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec_for;
    use serde_json::json;

    #[test]
    fn keys_sorted_and_sets_ordered() {
        let sg = spec_for("AWS::EC2::SecurityGroup");
        let a = json!({"configuration": {"ipPermissions": [
            {"fromPort": 22, "ipRanges": ["b", "a"]}, {"fromPort": 443, "ipRanges": []}
        ], "groupId": "sg-1"}});
        let b = json!({"configuration": {"groupId": "sg-1", "ipPermissions": [
            {"ipRanges": [], "fromPort": 443}, {"ipRanges": ["a", "b"], "fromPort": 22}
        ]}});
        let ca = canonicalize(sg, a);
        let cb = canonicalize(sg, b);
        assert_eq!(ca, cb);
        assert_eq!(
            std::str::from_utf8(&ca.doc).unwrap(),
            r#"{"configuration":{"groupId":"sg-1","ipPermissions":[{"fromPort":22,"ipRanges":["a","b"]},{"fromPort":443,"ipRanges":[]}]}}"#
        );
    }

    #[test]
    fn non_set_arrays_keep_order() {
        let spec = spec_for("AWS::S3::Bucket");
        let c = canonicalize(spec, json!({"configuration": {"x": [3, 1, 2]}}));
        assert_eq!(&c.doc[..], br#"{"configuration":{"x":[3,1,2]}}"#);
    }

    #[test]
    fn volatile_values_move_aside_and_merge_back() {
        let role = spec_for("AWS::IAM::Role");
        let doc = json!({"configuration": {"roleName": "r", "roleLastUsed": {"lastUsedDate": "2024-01-01"}}});
        let c = canonicalize(role, doc.clone());
        assert_eq!(&c.doc[..], br#"{"configuration":{"roleName":"r"}}"#);
        assert_eq!(
            &c.volatile[..],
            br#"{"configuration.roleLastUsed":{"lastUsedDate":"2024-01-01"}}"#
        );
        let mut back: Value = serde_json::from_slice(&c.doc).unwrap();
        let vol: Map<String, Value> = serde_json::from_slice(&c.volatile).unwrap();
        merge_volatile(&mut back, &vol);
        assert_eq!(back, doc);
    }

    #[test]
    fn escapes_strings_like_serde_json() {
        let v = json!({"a\"b": "line\nbreak \u{1}"});
        let mut out = Vec::new();
        write_canonical(&v, &mut out);
        assert_eq!(out, serde_json::to_vec(&v).unwrap());
    }
}
