//! Every record the rules engine keeps in the store besides the log itself, declared here
//! once: one [`Namespace`] per kind of record, with its key layout, value type and encoding,
//! so what the engine stores is read in one place and no other module spells a key.
//!
//! The keys are those stores have always had (`rules/…`), and each encoding reads what
//! earlier versions wrote without a header: a store written before namespaces opens and
//! works, and its records take the header as they are next written.
//!
//! The engine's JSON records are read leniently ([`Lenient`]): a record this version cannot
//! parse (an older format, a mark of an earlier release) is skipped or removed where it is
//! met, as before, never a reason to refuse the whole store. Their bytes are those of the
//! log crate's `Json` encoding, so either reads the other's records.

use crate::def::RuleDef;
use crate::item::{ResultRecord, SEP};
use crate::RuleStatus;
use driftlog_log::namespace::{BigEndian, Bytes, Encoding, Json};
use driftlog_log::Namespace;
use driftlog_model::{ResourceKey, Seq};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The change loop's durable cursor (a log cursor, not a side record): how far the
/// change-triggered rules have judged, so a restart neither skips nor re-judges changes.
pub(crate) const CHANGES_CURSOR: &str = "rules/changes";

/// The key result tokens are signed with (32 random bytes, one key `""`), made once per
/// store so tokens issued before a restart stay good. [`Bytes`]: it is a secret, not a value.
pub(crate) const TOKEN_KEY: Namespace<Vec<u8>, Bytes> = Namespace::new("rules/token_key", 1);

/// The rules, by rule key (see [`crate::DefContext::rule_key`]): each [`RuleDef`] as put,
/// loaded and compiled at start. The durable copy of the rule store.
pub(crate) const DEFS: Namespace<Lenient<RuleDef>, LenientJson> = Namespace::new("rules/def/", 1);

/// Rules put whose full run over the inventory has not finished, by rule key: the
/// generation of the definition put ([`BigEndian`]), so the run of an older definition
/// leaves the mark of a newer one, and a restart runs what was left.
pub(crate) const PENDING: Namespace<u64, BigEndian> = Namespace::new("rules/pending/", 1);

/// Rules deleted whose results are still being ended (AWS's `DELETING`), by rule key: the
/// definition they had, so they are listed meanwhile and their key is not reused. Marks of
/// releases before definitions were kept in them are empty: read as unreadable, still marks.
pub(crate) const DELETING: Namespace<Lenient<RuleDef>, LenientJson> =
    Namespace::new("rules/deleting/", 1);

/// Each rule's evaluation status ([`RuleStatus`]), by rule key: kept in memory, written on
/// each change so a restart shows it still. A view of what was recorded, so a refused write
/// is counted, not returned.
pub(crate) const STATUSES: Namespace<Lenient<RuleStatus>, LenientJson> =
    Namespace::new("rules/status/", 1);

/// When each rule's last full run started (epoch ms), by rule key: the periodic rules'
/// clock. Written as decimal text before namespaces, which is a JSON number: [`Json`].
pub(crate) const LAST_RUN: Namespace<i64, Json> = Namespace::new("rules/lastrun/", 1);

/// The result index: each rule's latest [`ResultRecord`] per resource, keyed
/// `<rule>␁<type>␁<id>` ([`rule_result`]) so a rule's results are one range. Derived from
/// the compliance items in the log; the compliance API and the counts read it.
pub(crate) const RESULTS: Namespace<Lenient<ResultRecord>, LenientJson> =
    Namespace::new("rules/res/", 1);

/// The result index by resource, keyed `<type>␁<id>␁<rule>` ([`resource_rule`]) with an
/// empty value ([`Bytes`]): the key is the record, listing which rules judged a resource
/// so its results are found without scanning every rule's.
pub(crate) const BY_RESOURCE: Namespace<Vec<u8>, Bytes> = Namespace::new("rules/byres/", 1);

/// Failed external invocations waiting to be tried again, keyed
/// `<rule>␁<type>␁<id>␁<account>␁<region>` ([`retry_mark`]): a [`Retry`] each, in the
/// store so a restart still retries them.
pub(crate) const RETRIES: Namespace<Lenient<Retry>, LenientJson> =
    Namespace::new("rules/retry/", 1);

/// A failed external invocation waiting to be tried again (a record of [`RETRIES`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Retry {
    /// The rule's key.
    pub(crate) rule: String,
    /// The resource it failed on.
    pub(crate) key: ResourceKey,
    /// The item the last failed try judged: a failure on a newer one starts afresh.
    #[serde(default)]
    pub(crate) seq: Seq,
    /// Failed tries so far.
    pub(crate) failures: u32,
    /// When the next try is due (epoch ms).
    pub(crate) due_ms: i64,
}

/// Key in [`RESULTS`] of `rule`'s result for a resource.
pub(crate) fn rule_result(rule: &str, resource_type: &str, resource_id: &str) -> String {
    format!("{rule}{SEP}{resource_type}{SEP}{resource_id}")
}

/// What every key of `rule`'s results in [`RESULTS`] starts with.
pub(crate) fn rule_results(rule: &str) -> String {
    format!("{rule}{SEP}")
}

/// Key in [`BY_RESOURCE`] saying that `rule` judged a resource.
pub(crate) fn resource_rule(resource_type: &str, resource_id: &str, rule: &str) -> String {
    format!("{resource_type}{SEP}{resource_id}{SEP}{rule}")
}

/// What the keys of [`BY_RESOURCE`] for one resource (or every resource of a type, or
/// every resource) start with.
pub(crate) fn resource_rules(resource_type: Option<&str>, resource_id: Option<&str>) -> String {
    match (resource_type, resource_id) {
        (Some(t), Some(id)) => format!("{t}{SEP}{id}{SEP}"),
        (Some(t), None) => format!("{t}{SEP}"),
        _ => String::new(),
    }
}

/// The type, id and rule of a [`BY_RESOURCE`] key.
pub(crate) fn parse_resource_rule(key: &str) -> Option<(&str, &str, &str)> {
    let mut it = key.splitn(3, SEP);
    Some((it.next()?, it.next()?, it.next()?))
}

/// Key in [`RETRIES`] of `rule`'s retry for the resource `key`.
pub(crate) fn retry_mark(rule: &str, key: &ResourceKey) -> String {
    format!(
        "{}{}{SEP}{}{SEP}{}{SEP}{}",
        rule_retries(rule),
        key.resource_type,
        key.resource_id,
        key.account,
        key.region
    )
}

/// What every key of `rule`'s retries in [`RETRIES`] starts with.
pub(crate) fn rule_retries(rule: &str) -> String {
    format!("{rule}{SEP}")
}

/// The whole store key of `key` in `ns`: what the crate's public index keys and the API's
/// page cursors are, as they always were.
pub(crate) fn store_key<V, E: Encoding<V>>(ns: &Namespace<V, E>, key: &str) -> String {
    format!("{}{key}", ns.name())
}

/// The key in `ns` of a whole store key ([`store_key`]); `None` when it is not one of `ns`.
pub(crate) fn key_in<'a, V, E: Encoding<V>>(ns: &Namespace<V, E>, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(ns.name())
}

/// A JSON record as this version reads it: its value when it parses, and the bytes it was
/// read from, so a compare-and-swap ([`Namespace::remove_if`]) matches the record exactly as
/// stored, whether this version can parse it or not.
pub(crate) struct Lenient<T> {
    value: Result<T, String>,
    /// The JSON as read; `None` for a value made here (encoded when written).
    read: Option<Vec<u8>>,
}

impl<T> Lenient<T> {
    /// A record of `value`, to write.
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: Ok(value),
            read: None,
        }
    }

    /// The value; `None` when this version cannot read the record.
    pub(crate) fn value(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }

    /// The value; `None` when this version cannot read the record.
    pub(crate) fn into_value(self) -> Option<T> {
        self.value.ok()
    }

    /// Why the record cannot be read; `None` when it can.
    pub(crate) fn unreadable(&self) -> Option<&str> {
        self.value.as_ref().err().map(String::as_str)
    }
}

/// JSON as the log crate's `Json` writes it, read into a [`Lenient`]: decoding never fails,
/// so one unreadable record never fails a page of them.
pub(crate) struct LenientJson;

impl<T: Serialize + DeserializeOwned> Encoding<Lenient<T>> for LenientJson {
    fn encode(v: &Lenient<T>) -> Result<Vec<u8>, String> {
        match (&v.read, &v.value) {
            (Some(bytes), _) => Ok(bytes.clone()),
            (None, Ok(value)) => serde_json::to_vec(value).map_err(|e| e.to_string()),
            (None, Err(reason)) => Err(reason.clone()),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Lenient<T>, String> {
        Ok(Lenient {
            value: serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            read: Some(bytes.to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use driftlog_log::{Log, LogOptions};

    fn log() -> (tempfile::TempDir, Log) {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        (dir, log)
    }

    fn key() -> ResourceKey {
        ResourceKey::new("1", "r", "AWS::S3::Bucket", "b")
    }

    /// The keys are the strings stores have always had.
    #[test]
    fn keys_are_those_of_earlier_stores() {
        assert_eq!(
            store_key(&RESULTS, &rule_result("ssh", "AWS::S3::Bucket", "b")),
            "rules/res/ssh\u{1}AWS::S3::Bucket\u{1}b"
        );
        assert_eq!(
            store_key(&BY_RESOURCE, &resource_rule("AWS::S3::Bucket", "b", "ssh")),
            "rules/byres/AWS::S3::Bucket\u{1}b\u{1}ssh"
        );
        assert_eq!(
            store_key(&RETRIES, &retry_mark("ssh", &key())),
            "rules/retry/ssh\u{1}AWS::S3::Bucket\u{1}b\u{1}1\u{1}r"
        );
        assert_eq!(store_key(&TOKEN_KEY, ""), "rules/token_key");
        for (ns, old) in [
            (DEFS.name(), "rules/def/"),
            (DELETING.name(), "rules/deleting/"),
            (STATUSES.name(), "rules/status/"),
        ] {
            assert_eq!(ns, old);
        }
        assert_eq!(PENDING.name(), "rules/pending/");
        assert_eq!(LAST_RUN.name(), "rules/lastrun/");
        assert_eq!(
            parse_resource_rule(&resource_rule("t", "i", "r")),
            Some(("t", "i", "r"))
        );
    }

    /// What earlier versions wrote (bare) is read: JSON, decimal times, big-endian
    /// generations, empty marks; unreadable JSON is a record without a value.
    #[test]
    fn legacy_records_are_read() {
        let (_d, log) = log();
        log.put_kv("rules/status/a", br#"{"first_activated_ms":5,"first_evaluation_started":true,"last_success_invocation_ms":null,"last_failed_invocation_ms":null,"last_success_evaluation_ms":null,"last_failed_evaluation_ms":null,"last_error_code":null,"last_error_message":null,"evaluations":3,"errors":0}"#).unwrap();
        log.put_kv("rules/status/b", b"not json").unwrap();
        log.put_kv("rules/lastrun/a", b"1700000000000").unwrap();
        log.put_kv("rules/pending/a", &7u64.to_be_bytes()).unwrap();
        log.put_kv("rules/deleting/old", b"").unwrap();
        let st = STATUSES.all(&log).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].1.value().map(|s| s.evaluations), Some(3));
        assert!(st[1].1.unreadable().is_some());
        assert_eq!(LAST_RUN.get(&log, "a").unwrap(), Some(1_700_000_000_000));
        assert_eq!(PENDING.get(&log, "a").unwrap(), Some(7));
        let old = DELETING.get(&log, "old").unwrap().unwrap();
        assert!(old.value().is_none());
    }

    /// A lenient record is written as `Json` writes it, and a compare-and-swap matches the
    /// bytes read, a legacy record's included (even one that no longer parses).
    #[test]
    fn lenient_records_are_json_and_swap_exactly() {
        let (_d, log) = log();
        let strict: Namespace<Retry, Json> = Namespace::new("rules/retry/", 1);
        let r = Retry {
            rule: "x".into(),
            key: key(),
            seq: 3,
            failures: 1,
            due_ms: 9,
        };
        RETRIES.put(&log, "a", &Lenient::new(r.clone())).unwrap();
        assert_eq!(strict.get(&log, "a").unwrap().map(|r| r.seq), Some(3));
        strict.put(&log, "b", &r).unwrap();
        assert_eq!(
            RETRIES
                .get(&log, "b")
                .unwrap()
                .and_then(|r| r.value().map(|r| r.seq)),
            Some(3)
        );
        // Legacy, without `seq` (written before it existed): re-encoding would differ.
        log.put_kv(
            "rules/retry/c",
            br#"{"rule":"x","key":{"account":"1","region":"r","resource_type":"t","resource_id":"i"},"failures":1,"due_ms":0}"#,
        )
        .unwrap();
        log.put_kv("rules/retry/d", b"garbage").unwrap();
        for k in ["a", "c", "d"] {
            let read = RETRIES.get(&log, k).unwrap().unwrap();
            assert!(RETRIES.remove_if(&log, k, &read).unwrap(), "{k}");
        }
        assert_eq!(RETRIES.len(&log).unwrap(), 1);
    }

    /// A range of keys pages alone: neighbouring ranges are neither read into it nor cut
    /// it short, from the first key or from a cursor.
    #[test]
    fn ranges_page_alone() {
        let (_d, log) = log();
        for rule in ["a", "ab", "b", "c"] {
            for i in 0..300 {
                BY_RESOURCE
                    .put(
                        &log,
                        &resource_rule(rule, &format!("{i:03}"), "r"),
                        &Vec::new(),
                    )
                    .unwrap();
            }
        }
        let under = resource_rules(Some("b"), None);
        let all = BY_RESOURCE
            .page_under(&log, &under, None, usize::MAX)
            .unwrap();
        assert_eq!(all.len(), 300);
        assert!(all.iter().all(|(k, _)| k.starts_with("b\u{1}")));
        let first = BY_RESOURCE.page_under(&log, &under, None, 10).unwrap();
        assert_eq!(first.len(), 10);
        let rest = BY_RESOURCE
            .page_under(
                &log,
                &under,
                first.last().map(|(k, _)| k.as_str()),
                usize::MAX,
            )
            .unwrap();
        assert_eq!(rest.len(), 290);
        assert_eq!(rest[0].0, resource_rule("b", "010", "r"));
        let last = &all[299].0;
        assert!(BY_RESOURCE
            .page_under(&log, &under, Some(last), 1)
            .unwrap()
            .is_empty());
        let everything = BY_RESOURCE.page_under(&log, "", None, usize::MAX).unwrap();
        assert_eq!(everything.len(), 1200);
        assert!(BY_RESOURCE
            .page_under(&log, &resource_rules(Some("z"), None), None, 5)
            .unwrap()
            .is_empty());
    }
}
