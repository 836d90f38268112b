//! Typed, named side records: the store's small records that are not history (rule
//! definitions, the API's control settings, recorder status, delivery state), each kind in
//! a [`Namespace`] owned by one crate, instead of string keys passed around.
//!
//! A namespace is a key prefix, a value type and an encoding version. Every value is stored
//! behind a two-byte header (`0xD1`, version), so a later encoding can read or refuse older
//! records the way frames are versioned; records written before namespaces existed (no
//! header) are read by the namespace's legacy decoder. A record that cannot be decoded is an
//! error naming the namespace and key, never a silently missing value.

use crate::{Error, Log, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;

/// First byte of every namespaced record: no legacy record (JSON text, a big-endian time or
/// generation of ours) starts with it.
const MAGIC: u8 = 0xD1;

/// How a namespace's values are written.
pub trait Encoding<V> {
    /// The value's bytes (after the header).
    ///
    /// # Errors
    /// The value cannot be encoded (a reason).
    fn encode(v: &V) -> std::result::Result<Vec<u8>, String>;
    /// The value of these bytes (after the header).
    ///
    /// # Errors
    /// The bytes are not a value of this encoding (a reason).
    fn decode(bytes: &[u8]) -> std::result::Result<V, String>;
}

/// Values as JSON (serde): readable with any JSON tool, and tolerant of added fields.
pub struct Json;

impl<V: Serialize + DeserializeOwned> Encoding<V> for Json {
    fn encode(v: &V) -> std::result::Result<Vec<u8>, String> {
        serde_json::to_vec(v).map_err(|e| e.to_string())
    }
    fn decode(bytes: &[u8]) -> std::result::Result<V, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// Opaque bytes (keys, secrets) kept as they are.
pub struct Bytes;

impl Encoding<Vec<u8>> for Bytes {
    fn encode(v: &Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        Ok(v.clone())
    }
    fn decode(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }
}

/// Numbers (times, counters, generations) as 8 big-endian bytes.
pub struct BigEndian;

impl Encoding<u64> for BigEndian {
    fn encode(v: &u64) -> std::result::Result<Vec<u8>, String> {
        Ok(v.to_be_bytes().to_vec())
    }
    fn decode(bytes: &[u8]) -> std::result::Result<u64, String> {
        <[u8; 8]>::try_from(bytes)
            .map(u64::from_be_bytes)
            .map_err(|_| format!("{} bytes, not 8", bytes.len()))
    }
}

impl Encoding<i64> for BigEndian {
    fn encode(v: &i64) -> std::result::Result<Vec<u8>, String> {
        Ok(v.to_be_bytes().to_vec())
    }
    fn decode(bytes: &[u8]) -> std::result::Result<i64, String> {
        <[u8; 8]>::try_from(bytes)
            .map(i64::from_be_bytes)
            .map_err(|_| format!("{} bytes, not 8", bytes.len()))
    }
}

/// A named, typed part of the side records: keys under `prefix`, values of type `V` written
/// with encoding `E` at `version`. Declare one as a `const` next to its owner.
pub struct Namespace<V, E = Json> {
    prefix: &'static str,
    version: u8,
    _v: PhantomData<fn() -> (V, E)>,
}

impl<V, E: Encoding<V>> Namespace<V, E> {
    /// A namespace of records under `prefix` (e.g. `"rules/def/"`), encoding `version`.
    pub const fn new(prefix: &'static str, version: u8) -> Self {
        Self {
            prefix,
            version,
            _v: PhantomData,
        }
    }

    /// The namespace's name (its key prefix).
    pub fn name(&self) -> &'static str {
        self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn encode(&self, key: &str, v: &V) -> Result<Vec<u8>> {
        let body = E::encode(v).map_err(|reason| Error::BadRecord {
            namespace: self.prefix,
            key: key.to_string(),
            reason,
        })?;
        let mut out = Vec::with_capacity(body.len() + 2);
        out.push(MAGIC);
        out.push(self.version);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<V> {
        let bad = |reason: String| Error::BadRecord {
            namespace: self.prefix,
            key: key.to_string(),
            reason,
        };
        match bytes {
            [MAGIC, v, body @ ..] if *v == self.version => E::decode(body).map_err(bad),
            [MAGIC, v, ..] => Err(bad(format!(
                "encoding version {v}, this driftlog reads version {}",
                self.version
            ))),
            // Written before namespaces had headers: the same encoding, bare.
            legacy => E::decode(legacy).map_err(bad),
        }
    }

    /// The record under `key`.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails; [`Error::BadRecord`] when it cannot be decoded.
    pub fn get(&self, log: &Log, key: &str) -> Result<Option<V>> {
        log.get_kv(&self.key(key))?
            .map(|b| self.decode(key, &b))
            .transpose()
    }

    /// Writes the record under `key` (durable with the next flush).
    ///
    /// # Errors
    /// [`Error::Storage`]/[`Error::Poisoned`] when the store refuses the write.
    pub fn put(&self, log: &Log, key: &str, v: &V) -> Result<()> {
        log.put_kv(&self.key(key), &self.encode(key, v)?)
    }

    /// Writes the record, and when the store refuses it counts and logs the failure
    /// ([`Log::side_write_failures`]) instead of returning it: for records that are a view
    /// of the truth (a status), rewritten at the next change.
    pub fn put_or_count(&self, log: &Log, key: &str, v: &V) {
        if let Err(e) = self.put(log, key, v) {
            log.count_side_write_failure(self.prefix, &e);
        }
    }

    /// Removes the record under `key` (absent is fine).
    ///
    /// # Errors
    /// As [`Namespace::put`].
    pub fn remove(&self, log: &Log, key: &str) -> Result<()> {
        log.remove_kv(&self.key(key))
    }

    /// Removes the record only if it still holds `expected` (compare-and-swap): a record
    /// rewritten meanwhile stays. True when it was removed.
    ///
    /// # Errors
    /// As [`Namespace::put`].
    pub fn remove_if(&self, log: &Log, key: &str, expected: &V) -> Result<bool> {
        let full = self.key(key);
        if log.remove_kv_if(&full, &self.encode(key, expected)?)? {
            return Ok(true);
        }
        // A legacy record (no header) holding the same value is the same record.
        match log.get_kv(&full)? {
            Some(b) if b.first() != Some(&MAGIC) => {
                let legacy = E::encode(expected).map_err(|reason| Error::BadRecord {
                    namespace: self.prefix,
                    key: key.to_string(),
                    reason,
                })?;
                log.remove_kv_if(&full, &legacy)
            }
            _ => Ok(false),
        }
    }

    /// Up to `max` records whose keys sort after `after` (from the first when `None`), in
    /// key order, with their keys (the part after the prefix).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails; [`Error::BadRecord`] for a record that cannot be
    /// decoded.
    pub fn page(&self, log: &Log, after: Option<&str>, max: usize) -> Result<Vec<(String, V)>> {
        self.page_under(log, "", after, max)
    }

    /// As [`Namespace::page`], only the keys that start with `under` (one rule's results,
    /// one resource's entries): a range of the store's keys, read as one.
    ///
    /// # Errors
    /// As [`Namespace::page`].
    pub fn page_under(
        &self,
        log: &Log,
        under: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<(String, V)>> {
        self.page_each(log, under, after, max)?
            .into_iter()
            .map(|(k, v)| Ok((k, v?)))
            .collect()
    }

    /// As [`Namespace::page_under`], each record decoded on its own: one that cannot be
    /// decoded is its [`Error::BadRecord`] in its place and the others are read, for readers
    /// that pass over a bad record instead of stopping (a queue that must drain).
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    #[allow(
        clippy::type_complexity,
        reason = "a page of (key, record or its error)"
    )]
    pub fn page_each(
        &self,
        log: &Log,
        under: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<(String, Result<V>)>> {
        let after = after.map(|a| self.key(a));
        Ok(log
            .kv_page(&self.key(under), after.as_deref(), max)?
            .into_iter()
            .map(|(k, b)| {
                let key = k[self.prefix.len()..].to_string();
                let v = self.decode(&key, &b);
                (key, v)
            })
            .collect())
    }

    /// Every record, in key order.
    ///
    /// # Errors
    /// As [`Namespace::page`].
    pub fn all(&self, log: &Log) -> Result<Vec<(String, V)>> {
        self.page(log, None, usize::MAX)
    }

    /// How many records the namespace holds.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn len(&self, log: &Log) -> Result<usize> {
        log.kv_prefix_len(self.prefix)
    }

    /// True when the namespace holds no record.
    ///
    /// # Errors
    /// [`Error::Storage`] when sled fails.
    pub fn is_empty(&self, log: &Log) -> Result<bool> {
        Ok(log.kv_page(self.prefix, None, 1)?.is_empty())
    }

    /// A write of this namespace for a [`Batch`].
    ///
    /// # Errors
    /// [`Error::BadRecord`] when the value cannot be encoded.
    pub fn put_op(&self, key: &str, v: &V) -> Result<(String, Vec<u8>)> {
        Ok((self.key(key), self.encode(key, v)?))
    }

    /// A removal of this namespace for a [`Batch`].
    pub fn remove_op(&self, key: &str) -> String {
        self.key(key)
    }
}

/// Writes and removals over several namespaces applied at once (all or none): two records
/// of one index never disagree after a crash.
#[derive(Default)]
pub struct Batch {
    puts: Vec<(String, Vec<u8>)>,
    removes: Vec<String>,
}

impl Batch {
    /// Adds a write.
    ///
    /// # Errors
    /// [`Error::BadRecord`] when the value cannot be encoded.
    pub fn put<V, E: Encoding<V>>(&mut self, ns: &Namespace<V, E>, key: &str, v: &V) -> Result<()> {
        self.puts.push(ns.put_op(key, v)?);
        Ok(())
    }

    /// Adds a removal.
    pub fn remove<V, E: Encoding<V>>(&mut self, ns: &Namespace<V, E>, key: &str) {
        self.removes.push(ns.remove_op(key));
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.removes.is_empty()
    }

    /// Applies everything at once.
    ///
    /// # Errors
    /// [`Error::Storage`]/[`Error::Poisoned`] when the store refuses it.
    pub fn apply(self, log: &Log) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        log.apply_kv(&self.puts, &self.removes)
    }
}

impl Log {
    /// Side-record writes the store refused that were counted instead of returned
    /// ([`Namespace::put_or_count`]): shown in `/metrics` so no failure goes unseen.
    pub fn side_write_failures(&self) -> u64 {
        self.side_write_failures.load(Ordering::Relaxed)
    }

    /// Counts and logs one refused side-record write.
    pub fn count_side_write_failure(&self, namespace: &str, e: &Error) {
        self.side_write_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(namespace, error = %e, "A side record was not written; it is rewritten at the next change.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogOptions;

    const STATUS: Namespace<serde_json::Value> = Namespace::new("test/status/", 1);
    const STAMP: Namespace<i64, BigEndian> = Namespace::new("test/stamp", 1);

    fn log() -> (tempfile::TempDir, Log) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(dir.path(), LogOptions::default()).expect("open");
        (dir, log)
    }

    #[test]
    fn records_round_trip_with_their_header() {
        let (_d, log) = log();
        STATUS
            .put(&log, "a", &serde_json::json!({"ok": true}))
            .expect("put");
        assert_eq!(
            STATUS.get(&log, "a").expect("get"),
            Some(serde_json::json!({"ok": true}))
        );
        let raw = log.get_kv("test/status/a").expect("raw").expect("stored");
        assert_eq!(&raw[..2], &[MAGIC, 1]);
        assert_eq!(STATUS.all(&log).expect("all").len(), 1);
        STAMP.put(&log, "", &-5).expect("put");
        assert_eq!(STAMP.get(&log, "").expect("get"), Some(-5));
    }

    #[test]
    fn legacy_records_are_read_and_unknown_versions_refused() {
        let (_d, log) = log();
        log.put_kv("test/status/old", br#"{"v":1}"#)
            .expect("legacy");
        assert_eq!(
            STATUS.get(&log, "old").expect("get"),
            Some(serde_json::json!({"v": 1}))
        );
        log.put_kv("test/stamp", &7i64.to_be_bytes())
            .expect("legacy");
        assert_eq!(STAMP.get(&log, "").expect("get"), Some(7));
        log.put_kv("test/status/new", &[MAGIC, 9, b'{', b'}'])
            .expect("future");
        let e = STATUS.get(&log, "new").expect_err("version 9 refused");
        assert!(e.to_string().contains("test/status/") && e.to_string().contains("version 9"));
        log.put_kv("test/status/bad", b"not json").expect("bad");
        assert!(STATUS.get(&log, "bad").is_err(), "a bad record is an error");
    }

    #[test]
    fn remove_if_matches_new_and_legacy_records() {
        let (_d, log) = log();
        let gen: Namespace<u64, BigEndian> = Namespace::new("test/gen/", 1);
        gen.put(&log, "r", &3).expect("put");
        assert!(!gen.remove_if(&log, "r", &4).expect("cas"));
        assert!(gen.remove_if(&log, "r", &3).expect("cas"));
        log.put_kv("test/gen/old", &5u64.to_be_bytes())
            .expect("legacy");
        assert!(gen.remove_if(&log, "old", &5).expect("cas"));
        assert!(gen.is_empty(&log).expect("empty"));
    }

    #[test]
    fn a_batch_applies_across_namespaces() {
        let (_d, log) = log();
        let mut b = Batch::default();
        b.put(&STATUS, "x", &serde_json::json!(1)).expect("put");
        b.put(&STAMP, "", &9).expect("put");
        b.apply(&log).expect("apply");
        assert_eq!(STATUS.len(&log).expect("len"), 1);
        let mut b = Batch::default();
        b.remove(&STATUS, "x");
        b.apply(&log).expect("apply");
        assert!(STATUS.is_empty(&log).expect("empty"));
    }
}
