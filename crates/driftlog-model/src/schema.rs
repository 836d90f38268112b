//! Conformance of a recorded document to AWS Config's own published property schema (the
//! `AWS::<Service>::<Type>.properties.json` files of awslabs/aws-config-resource-schema).
//!
//! Those files list, per type, the dotted paths AWS Config indexes for advanced queries
//! (`configuration.dBSubnetGroup.vpcId`, arrays flattened). They are the searchable subset,
//! so a recorded item may have more paths; but a path that *nearly* matches one of them is
//! a shaping mistake a reader's query would silently miss: the wrong casing
//! (`configuration.DBInstanceIdentifier` where AWS Config says `dBInstanceIdentifier`), a
//! misspelling, or the right key under the wrong parent. [`PropertySchema::check`] finds
//! exactly those, and [`PropertySchema::absent`] lists the schema's paths a document lacks
//! (a full reference item should have them all).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One type's schema: every indexed path with its declared type (`string`, `integer`, …).
#[derive(Debug, Clone, Default)]
pub struct PropertySchema {
    paths: BTreeMap<String, String>,
    /// Every path and every proper prefix of one, lower-cased, to the path as spelled.
    folded: BTreeMap<String, String>,
}

/// How a document's path departs from the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The same path in another casing.
    Casing,
    /// A sibling of the schema's key with one or two letters wrong.
    Misspelled,
    /// The schema's key, under another parent.
    Nesting,
}

/// One path of a document that departs from the schema, and the path the schema has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaMismatch {
    /// The document's path (`configuration.kmsKeyArn`).
    pub path: String,
    /// What kind of mistake it looks like.
    pub kind: Mismatch,
    /// The schema's path (`configuration.kmskeyArn`).
    pub expected: String,
}

impl std::fmt::Display for SchemaMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            Mismatch::Casing => "casing",
            Mismatch::Misspelled => "spelling",
            Mismatch::Nesting => "nesting",
        };
        write!(
            f,
            "{} ({what}): the schema says {}",
            self.path, self.expected
        )
    }
}

/// Paths under these roots are checked; the top-level fields are the model's own.
const ROOTS: &[&str] = &["configuration", "supplementaryConfiguration"];

impl PropertySchema {
    /// Reads one `.properties.json` file's text.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let paths: BTreeMap<String, String> = serde_json::from_str(text)?;
        let mut folded = BTreeMap::new();
        for p in paths.keys() {
            let mut end = 0;
            for (i, c) in p.char_indices() {
                if c == '.' {
                    folded
                        .entry(p[..i].to_lowercase())
                        .or_insert_with(|| p[..i].to_string());
                }
                end = i + c.len_utf8();
            }
            folded
                .entry(p[..end].to_lowercase())
                .or_insert_with(|| p.clone());
        }
        Ok(Self { paths, folded })
    }

    /// The schema's paths under `configuration` and `supplementaryConfiguration`.
    pub fn configuration_paths(&self) -> impl Iterator<Item = &str> {
        self.paths
            .keys()
            .map(String::as_str)
            .filter(|p| ROOTS.iter().any(|r| under(p, r)))
    }

    /// Whether `path` is a schema path or leads to one.
    fn known(&self, path: &str) -> bool {
        self.folded
            .get(&path.to_lowercase())
            .is_some_and(|spelled| spelled == path)
    }

    /// The paths of `doc` (an item in the notification form, or in the API form where
    /// `configuration` and supplementary values are JSON text) that look like mistakes
    /// against the schema.
    pub fn check(&self, doc: &Value) -> Vec<SchemaMismatch> {
        let have = document_paths(doc);
        let mut out = Vec::new();
        for p in &have {
            if self.known(p) {
                continue;
            }
            // A parent already reported covers its children.
            if out
                .iter()
                .any(|m: &SchemaMismatch| under(p, m.path.as_str()))
            {
                continue;
            }
            if let Some(spelled) = self.folded.get(&p.to_lowercase()) {
                out.push(SchemaMismatch {
                    path: p.clone(),
                    kind: Mismatch::Casing,
                    expected: spelled.clone(),
                });
                continue;
            }
            let (parent, leaf) = split_last(p);
            if self.known(parent) {
                let sibling = self.children(parent).into_iter().find(|s| {
                    let (_, l) = split_last(s);
                    leaf.len() >= 5 && !have.contains(s) && edit_distance(l, leaf) <= 2
                });
                if let Some(s) = sibling {
                    out.push(SchemaMismatch {
                        path: p.clone(),
                        kind: Mismatch::Misspelled,
                        expected: s,
                    });
                    continue;
                }
            }
            if leaf.len() >= 8 {
                let elsewhere = self.folded.values().find(|s| {
                    let (sp, sl) = split_last(s);
                    sl == leaf && sp != parent && !have.contains(*s)
                });
                if let Some(s) = elsewhere {
                    out.push(SchemaMismatch {
                        path: p.clone(),
                        kind: Mismatch::Nesting,
                        expected: s.clone(),
                    });
                }
            }
        }
        out
    }

    /// The schema's configuration paths `doc` does not have.
    pub fn absent(&self, doc: &Value) -> Vec<String> {
        let have = document_paths(doc);
        self.configuration_paths()
            .filter(|p| !have.contains(*p))
            .map(str::to_string)
            .collect()
    }

    /// The schema's paths (and prefixes) one level under `parent`, as spelled.
    fn children(&self, parent: &str) -> Vec<String> {
        let want = format!("{}.", parent.to_lowercase());
        self.folded
            .range(want.clone()..)
            .take_while(|(k, _)| k.starts_with(&want))
            .filter(|(k, _)| !k[want.len()..].contains('.'))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn under(path: &str, root: &str) -> bool {
    path.len() > root.len() && path.starts_with(root) && path.as_bytes()[root.len()] == b'.'
}

fn split_last(path: &str) -> (&str, &str) {
    match path.rfind('.') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Every dotted path of `doc` under `configuration` and `supplementaryConfiguration`,
/// arrays flattened, JSON text holding an object or array read as that value (the API
/// form, a supplementary policy document).
pub fn document_paths(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for root in ROOTS {
        if let Some(v) = doc.get(*root) {
            walk(v, root, &mut out);
        }
    }
    out
}

fn walk(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                walk(child, &p, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, prefix, out)),
        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                walk(&inner, prefix, out);
            }
        }
        _ => {}
    }
}

/// Levenshtein distance, for short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> PropertySchema {
        PropertySchema::parse(
            r#"{"configuration.kmskeyArn":"string","configuration.dBSubnetGroup.vpcId":"string",
                "configuration.storageEncrypted":"boolean","configuration.tags.key":"string",
                "supplementaryConfiguration.KeyRotationStatus":"boolean","resourceId":"string"}"#,
        )
        .expect("schema")
    }

    #[test]
    fn finds_casing_spelling_and_nesting_mistakes() {
        let doc = json!({"configuration": {
            "kmsKeyArn": "k",
            "storageEncypted": true,
            "vpcId": "vpc-1",
            "dBSubnetGroup": {},
            "tags": [{"key": "a", "value": "b"}],
            "somethingElse": 1
        }, "supplementaryConfiguration": {"KeyRotationStatus": "true"}});
        let found = schema().check(&doc);
        let by_path: BTreeMap<_, _> = found
            .iter()
            .map(|m| (m.path.as_str(), (m.kind.clone(), m.expected.as_str())))
            .collect();
        assert_eq!(
            by_path.get("configuration.kmsKeyArn"),
            Some(&(Mismatch::Casing, "configuration.kmskeyArn"))
        );
        assert_eq!(
            by_path.get("configuration.storageEncypted"),
            Some(&(Mismatch::Misspelled, "configuration.storageEncrypted"))
        );
        // `vpcId` is short: too generic to call a nesting mistake.
        assert_eq!(found.len(), 2, "{found:?}");
        let absent = schema().absent(&doc);
        assert!(absent.contains(&"configuration.dBSubnetGroup.vpcId".to_string()));
        assert!(!absent.contains(&"configuration.tags.key".to_string()));
    }

    #[test]
    fn reads_the_api_form_and_json_text() {
        let doc = json!({"configuration": "{\"DBSubnetGroup\":{\"vpcId\":\"v\"}}"});
        let found = schema().check(&doc);
        assert_eq!(found[0].kind, Mismatch::Casing);
        assert_eq!(found[0].expected, "configuration.dBSubnetGroup");
        assert_eq!(
            found.len(),
            1,
            "children of a reported parent are not repeated"
        );
    }

    #[test]
    fn a_key_under_the_wrong_parent_is_nesting() {
        let s = PropertySchema::parse(r#"{"configuration.vpcConfig.securityGroupIds":"string"}"#)
            .expect("schema");
        let found = s.check(&json!({"configuration": {"securityGroupIds": ["sg-1"]}}));
        assert_eq!(found[0].kind, Mismatch::Nesting, "{found:?}");
    }
}
