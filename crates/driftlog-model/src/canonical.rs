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

/// Whether `doc` is already exactly what [`canonicalize`] makes of it for `spec`, with no
/// volatile value in it: then it can be taken as it is, without building a tree. This is
/// how an aggregator reads what another driftlog published (canonical already), several
/// times faster than parsing and writing it again; anything it is unsure of (a volatile
/// value, an escaped key, a deeply nested value) says no, and the caller canonicalizes.
///
/// Byte-exact: compact, keys strictly in byte order, strings escaped as serde_json escapes
/// them, numbers as serde_json prints them, set-like arrays sorted by their elements'
/// bytes.
pub fn is_canonical(spec: &TypeSpec, doc: &str) -> bool {
    let mut active: Vec<(Kind, &'static str)> = Vec::new();
    active.extend(
        crate::types::common_sets()
            .iter()
            .chain(spec.set_paths.iter())
            .map(|p| (Kind::Set, *p)),
    );
    active.extend(spec.volatile_paths.iter().map(|p| (Kind::Volatile, *p)));
    let mut c = Checker {
        b: doc.as_bytes(),
        i: 0,
    };
    c.value(&active, 0) && c.i == c.b.len()
}

/// Deeper than this, [`is_canonical`] declines (serde_json itself stops at 128).
const MAX_DEPTH: usize = 128;

/// A one-pass reader of JSON bytes that accepts only canonical form.
struct Checker<'a> {
    b: &'a [u8],
    i: usize,
}

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, active: &[(Kind, &'static str)], depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.peek() {
            Some(b'{') => self.object(active, depth),
            Some(b'[') => self.array(active, depth),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    /// A string escaped exactly as serde_json escapes: returns where its bytes between the
    /// quotes start and end, and whether it holds an escape.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            // Plain bytes in one sweep: only quotes, backslashes and control bytes stop it.
            i += self
                .b
                .get(i..)?
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            match self.b[i] {
                b'"' => break,
                0..=0x1f => return None,
                b'\\' => {
                    escaped = true;
                    match *self.b.get(i + 1)? {
                        b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => i += 2,
                        b'u' => {
                            // serde_json writes \u00XX (lowercase hex) only for control
                            // characters without a short form.
                            let hex = self.b.get(i + 2..i + 6)?;
                            if &hex[..2] != b"00" {
                                return None;
                            }
                            let digit = |d: u8| match d {
                                b'0'..=b'9' => Some(d - b'0'),
                                b'a'..=b'f' => Some(d - b'a' + 10),
                                _ => None,
                            };
                            let v = digit(hex[2])? * 16 + digit(hex[3])?;
                            if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => i += 1,
            }
        }
        self.i = i + 1;
        Some((start, i, escaped))
    }

    fn number(&mut self) -> bool {
        let start = self.i;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.i += 1;
        }
        let span = &self.b[start..self.i];
        // Most numbers are plain integers: canonical when they have no leading zero and
        // fit in i64 (serde_json keeps them as integers and prints them back unchanged).
        let digits = span.strip_prefix(b"-").unwrap_or(span);
        if !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && (digits[0] != b'0' || span == b"0")
        {
            return true;
        }
        // Anything else (floats, huge integers, "-0"): as serde_json prints it back.
        std::str::from_utf8(span)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Number>(t).ok())
            .is_some_and(|n| n.to_string().as_bytes() == span)
    }

    fn object(&mut self, active: &[(Kind, &'static str)], depth: usize) -> bool {
        self.i += 1;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return true;
        }
        let b = self.b;
        let mut last: Option<&[u8]> = None;
        loop {
            if self.peek() != Some(b'"') {
                return false;
            }
            let Some((start, end, escaped)) = self.string() else {
                return false;
            };
            let key = &b[start..end];
            // Keys in strictly increasing byte order; an escaped key would need unescaping
            // to compare: left to the full path.
            if escaped || last.is_some_and(|l| l >= key) {
                return false;
            }
            last = Some(key);
            if self.peek() != Some(b':') {
                return false;
            }
            self.i += 1;
            let ok = if active.is_empty() {
                self.value(&[], depth + 1)
            } else {
                let Ok(k) = std::str::from_utf8(key) else {
                    return false;
                };
                let (next, here, is_set) = step(active, Seg::Key(k));
                match here {
                    // A volatile value is moved out by canonicalization: not canonical.
                    Some(Kind::Volatile) => return false,
                    _ if is_set && self.peek() == Some(b'[') => self.set(&next, depth + 1),
                    _ => self.value(&next, depth + 1),
                }
            };
            if !ok {
                return false;
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// An array; its elements' byte spans.
    fn elements(
        &mut self,
        active: &[(Kind, &'static str)],
        depth: usize,
        spans: &mut Vec<(usize, usize)>,
    ) -> bool {
        self.i += 1;
        if self.peek() == Some(b']') {
            self.i += 1;
            return true;
        }
        let next = if active.is_empty() {
            Vec::new()
        } else {
            step(active, Seg::Index).0
        };
        loop {
            let start = self.i;
            if !self.value(&next, depth + 1) {
                return false;
            }
            spans.push((start, self.i));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn array(&mut self, active: &[(Kind, &'static str)], depth: usize) -> bool {
        let mut spans = Vec::new();
        self.elements(active, depth, &mut spans)
    }

    /// A set-like array: sorted by its elements' canonical bytes.
    fn set(&mut self, active: &[(Kind, &'static str)], depth: usize) -> bool {
        let mut spans = Vec::new();
        self.elements(active, depth, &mut spans)
            && spans
                .windows(2)
                .all(|w| self.b[w[0].0..w[0].1] <= self.b[w[1].0..w[1].1])
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
