//! Field-level diff of two canonical documents, with AWS Config's conventions.
//!
//! Objects are compared member by member and recursed into; arrays are compared by index
//! and whole elements are reported (as AWS does), except set-like arrays (declared per type
//! in [`TypeSpec`]), which are compared as multisets: a removed element is a DELETE at its
//! old index, an added one a CREATE at its new index, and reordering alone is nothing.

use driftlog_model::canonical::to_canonical_vec;
use driftlog_model::PathSeg;
use driftlog_model::{ChangeType, FieldChange, PathStep, TypeSpec};
use serde_json::Value;

/// All field changes that turn `prev` into `next`, in path order.
pub fn diff(spec: &TypeSpec, prev: &Value, next: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(spec, prev, next, &mut path, &mut out);
    out
}

fn change(path: &[PathStep], prev: &Value, next: &Value, ty: ChangeType) -> FieldChange {
    FieldChange {
        path: path.to_vec(),
        previous_value: prev.clone(),
        updated_value: next.clone(),
        change_type: ty,
    }
}

fn segs(path: &[PathStep]) -> Vec<PathSeg<'_>> {
    path.iter()
        .map(|s| match s {
            PathStep::Index(i) => PathSeg::Index(*i),
            PathStep::Key(k) => PathSeg::Key(k),
        })
        .collect()
}

fn walk(
    spec: &TypeSpec,
    prev: &Value,
    next: &Value,
    path: &mut Vec<PathStep>,
    out: &mut Vec<FieldChange>,
) {
    if prev == next {
        return;
    }
    match (prev, next) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                path.push(PathStep::Key(k.clone()));
                match b.get(k) {
                    Some(vb) => walk(spec, va, vb, path, out),
                    None => out.push(change(path, va, &Value::Null, ChangeType::Delete)),
                }
                path.pop();
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    path.push(PathStep::Key(k.clone()));
                    out.push(change(path, &Value::Null, vb, ChangeType::Create));
                    path.pop();
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if spec.is_set(&segs(path)) => set_diff(a, b, path, out),
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                path.push(PathStep::Index(i));
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) if x != y => {
                        out.push(change(path, x, y, ChangeType::Update))
                    }
                    (Some(x), None) => out.push(change(path, x, &Value::Null, ChangeType::Delete)),
                    (None, Some(y)) => out.push(change(path, &Value::Null, y, ChangeType::Create)),
                    _ => {}
                }
                path.pop();
            }
        }
        // A member that stays but changes value (null included) is an UPDATE; CREATE and
        // DELETE are kept for members and elements that appear or disappear.
        _ => out.push(change(path, prev, next, ChangeType::Update)),
    }
}

/// Multiset difference; a DELETE and a CREATE landing on the same index merge into one
/// UPDATE (AWS keys changes by path, so two entries cannot share one).
fn set_diff(a: &[Value], b: &[Value], path: &mut Vec<PathStep>, out: &mut Vec<FieldChange>) {
    let mut used = vec![false; b.len()];
    let mut removed: Vec<usize> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        match b.iter().enumerate().position(|(j, y)| !used[j] && x == y) {
            Some(j) => used[j] = true,
            None => removed.push(i),
        }
    }
    let added: Vec<usize> = (0..b.len()).filter(|j| !used[*j]).collect();
    let mut ri = removed.iter().peekable();
    let mut ai = added.iter().peekable();
    loop {
        let (idx, prev, next, ty) = match (ri.peek(), ai.peek()) {
            (Some(&&r), Some(&&c)) if r == c => {
                ri.next();
                ai.next();
                (r, &a[r], &b[c], ChangeType::Update)
            }
            (Some(&&r), Some(&&c)) if r < c => {
                ri.next();
                (r, &a[r], &Value::Null, ChangeType::Delete)
            }
            (Some(&&r), None) => {
                ri.next();
                (r, &a[r], &Value::Null, ChangeType::Delete)
            }
            (_, Some(&&c)) => {
                ai.next();
                (c, &Value::Null, &b[c], ChangeType::Create)
            }
            (None, None) => break,
        };
        path.push(PathStep::Index(idx));
        out.push(change(path, prev, next, ty));
        path.pop();
    }
}

/// Applies `changes` (as made by [`diff`]) to `prev`, giving the next document.
///
/// It exists to prove the diff complete (`apply(a, diff(a, b)) == b`, a property test) and
/// for tools that rebuild versions from diffs. Set-like arrays are re-sorted canonically.
pub fn apply(spec: &TypeSpec, prev: &Value, changes: &[FieldChange]) -> Value {
    let mut doc = prev.clone();
    // Non-set array deletes must run from the highest index down, creates upward; set
    // changes remove the old element and add the new one wherever they are.
    let mut ordered: Vec<&FieldChange> = changes.iter().collect();
    ordered.sort_by_key(|c| match c.change_type {
        ChangeType::Update => 0,
        ChangeType::Delete => 1,
        ChangeType::Create => 2,
    });
    let deletes_desc = |v: &mut Vec<&FieldChange>| {
        let start = v.iter().position(|c| c.change_type == ChangeType::Delete);
        let end = v.iter().position(|c| c.change_type == ChangeType::Create);
        if let Some(s) = start {
            let e = end.unwrap_or(v.len());
            v[s..e].reverse();
        }
    };
    deletes_desc(&mut ordered);
    let mut touched_sets: Vec<Vec<PathStep>> = Vec::new();
    for c in ordered {
        let Some((last, parent)) = c.path.split_last() else {
            doc = c.updated_value.clone();
            continue;
        };
        let in_set = matches!(last, PathStep::Index(_)) && spec.is_set(&segs(parent));
        let Some(container) = get_mut(&mut doc, parent) else {
            continue;
        };
        let removes = c.change_type != ChangeType::Create;
        let adds = c.change_type != ChangeType::Delete;
        match (container, last) {
            (Value::Array(items), PathStep::Index(_)) if in_set => {
                if removes {
                    if let Some(pos) = items.iter().position(|x| *x == c.previous_value) {
                        items.remove(pos);
                    }
                }
                if adds {
                    items.push(c.updated_value.clone());
                }
                touched_sets.push(parent.to_vec());
            }
            (Value::Array(items), PathStep::Index(i)) => match c.change_type {
                ChangeType::Update => {
                    if let Some(x) = items.get_mut(*i) {
                        *x = c.updated_value.clone();
                    }
                }
                ChangeType::Delete => {
                    if *i < items.len() {
                        items.remove(*i);
                    }
                }
                ChangeType::Create => {
                    let at = (*i).min(items.len());
                    items.insert(at, c.updated_value.clone());
                }
            },
            (Value::Object(map), PathStep::Key(k)) => {
                if adds {
                    map.insert(k.clone(), c.updated_value.clone());
                } else {
                    map.remove(k);
                }
            }
            // A path through a value of another type cannot come from `diff`; skip it.
            _ => {}
        }
    }
    for p in touched_sets {
        if let Some(Value::Array(items)) = get_mut(&mut doc, &p) {
            let mut keyed: Vec<(Vec<u8>, Value)> =
                items.drain(..).map(|v| (to_canonical_vec(&v), v)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            items.extend(keyed.into_iter().map(|(_, v)| v));
        }
    }
    doc
}

fn get_mut<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let next = match (v, first) {
        (Value::Object(m), PathStep::Key(k)) => m.get_mut(k),
        (Value::Array(a), PathStep::Index(i)) => a.get_mut(*i),
        _ => None,
    }?;
    get_mut(next, rest)
}
